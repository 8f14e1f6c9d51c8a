"""trace-assembler: span bundles and incoming links -> assembled traces on `traces.assembled`.

Wiring only; the work is in `pipeline.adapters.assembler_runtime` (windows, assembly, output,
acks) and the pure `pipeline.domain.windows` / `pipeline.domain.assembly`.

- Inputs: `obspipe.spans-by-trace` (one faust event per bundle of spans) and `obspipe.links`,
  co-partitioned (same partition count, both partitioned by obspipe's partitioner on the
  target trace id), so one worker owns a trace's spans and its incoming links.
- Events are consumed with `stream.noack()` and acked by the runtime once every trace holding
  spans of them is delivered (through the app-owned acking producer); faust commits up to the
  first unacked offset. `stream_wait_empty=False` (build_app) keeps held acks from stalling a
  rebalance; windows of revoked partitions are discarded (the next owner replays them).
- A timer releases due windows every `assembler_tick_s`.
- Shutdown: open windows are left to be replayed by the next owner (their inputs are not
  committed), which then emits them whole, rather than emitted now as incomplete traces;
  `build(..., release_on_shutdown=True)` emits them (reason "shutdown") for a worker that
  nobody replaces, e.g. the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Gauge, Histogram

from pipeline.adapters.assembler_runtime import AssemblerRuntime
from pipeline.adapters.observability import instrument_faust_app
from pipeline.domain.assembly import AssemblyOptions
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.propagation_rules import PropagationWatch
from pipeline.domain.trace_index import TraceIndex
from pipeline.domain.windows import TraceWindows, WindowOptions
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime, dead_letter_policy

NAME = "trace-assembler"
SHUTDOWN_FLUSH_S = 10.0
END_OFFSETS_TIMEOUT_S = 5.0
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
log = logging.getLogger(__name__)


def build_trace_index(settings: Settings) -> TraceIndex | None:
    """The Redis trace index of OBSPIPE_REDIS_URL; None if disabled or no Redis is configured.

    Without an index, traces are still assembled and emitted, but nothing is queryable and a
    replay after a crash cannot be reconciled (duplicates then differ only by completeness).
    """
    if not settings.trace_index_enabled:
        return None
    if not settings.redis_url:
        log.warning("no OBSPIPE_REDIS_URL: running without the trace index")
        return None
    from pipeline.adapters.redis.trace_index import RedisTraceIndex

    return RedisTraceIndex.from_url(
        settings.redis_url,
        prefix=settings.trace_index_prefix,
        ttl_s=settings.trace_index_ttl_s,
        recent_max=settings.trace_index_recent_max,
        buffer_max=settings.trace_index_buffer_max,
    ).start()


def build_propagation_watch(settings: Settings) -> PropagationWatch | None:
    """The worker's cross-trace propagation rules, or None if disabled."""
    if not settings.propagation_rules_enabled:
        return None
    return PropagationWatch(max_evidence=settings.propagation_evidence_max_spans)


# (gauge name, help, source, attribute): counters read at scrape time.
_STATS_GAUGES = (
    ("obspipe_late_spans_merged", "Late spans merged into a new revision.", "windows", "late_merged"),
    (
        "obspipe_late_span_fragments",
        "Late spans emitted as LATE_SPANS fragments.",
        "windows",
        "late_fragments",
    ),
    (
        "obspipe_replays_suppressed",
        "Replayed traces already indexed, not emitted again.",
        "windows",
        "replays_suppressed",
    ),
    ("obspipe_replays_merged", "Replayed traces merged into a new revision.", "windows", "replays_merged"),
    (
        "obspipe_links_unmatched",
        "Incoming links dropped from the bounded wait list.",
        "windows",
        "links_unmatched",
    ),
    ("obspipe_trace_index_written", "Traces written to the index.", "index", "written"),
    ("obspipe_trace_index_retries", "Failed index writes that were retried.", "index", "retries"),
    (
        "obspipe_trace_index_overflow",
        "Index writes dropped because the buffer was full.",
        "index",
        "overflow",
    ),
)


def export_stats(registry: CollectorRegistry, runtime: AssemblerRuntime) -> None:
    """Expose the window store's and the trace index's counters as gauges read at scrape time."""
    sources: dict[str, Any] = {
        "windows": runtime.windows.stats,
        "index": runtime.index and runtime.index.stats,
    }
    for name, doc, source, attribute in _STATS_GAUGES:
        stats = sources[source]
        if stats is not None:
            gauge = Gauge(name, doc, ["app"], registry=registry).labels(app=NAME)
            gauge.set_function(_reader(stats, attribute))
    cache = Gauge(
        "obspipe_late_cache_spans",
        "Spans of released traces kept for late revisions.",
        ["app"],
        registry=registry,
    )
    cache.labels(app=NAME).set_function(lambda: float(runtime.windows.cached_spans))


def _reader(stats: Any, attribute: str) -> Callable[[], float]:
    return lambda: float(getattr(stats, attribute))


def build_assembler(
    settings: Settings,
    *,
    bootstrap: str | None = None,
    index: TraceIndex | None = None,
    release_on_shutdown: bool = False,
) -> tuple[AppRuntime, AssemblerRuntime]:
    """The trace-assembler faust app and its runtime (tests and the benchmark read its stats)."""
    app_rt = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer = app_rt.app, app_rt.producer
    spans_topic = app.topic(settings.topic_spans_by_trace, key_type=bytes, value_type=bytes)
    links_topic = app.topic(settings.topic_links, key_type=bytes, value_type=bytes)
    input_topics = {settings.topic_spans_by_trace, settings.topic_links}
    metrics = instrument_faust_app(app, NAME, settings)
    partitions = settings.topic_partitions

    runtime = AssemblerRuntime(
        windows=TraceWindows(WindowOptions.from_settings(settings)),
        producer=producer,
        ack=lambda event: event.ack(),
        dead_letter=dead_letter_policy(app_rt, metrics),
        partition_for=lambda trace_id: partition_for_trace(trace_id, partitions),
        topic_traces=settings.topic_traces,
        topic_links=settings.topic_links,
        assembly=AssemblyOptions(max_clock_skew_adjustment_ns=settings.max_clock_skew_adjustment_us * 1_000),
        index=index if index is not None else build_trace_index(settings),
        propagation=build_propagation_watch(settings),
        max_record_bytes=settings.kafka_message_max_bytes,
        metrics=metrics,
        release_latency=Histogram(
            "obspipe_trace_release_to_delivery_seconds",
            "From a trace window's release to the broker's confirmation of its output records.",
            ["app"],
            buckets=LATENCY_BUCKETS_S,
            registry=metrics.registry,
        ).labels(app=NAME),
    )

    def now() -> float:
        return asyncio.get_running_loop().time()

    export_stats(metrics.registry, runtime)

    async def end_offsets(tps: list[Any]) -> dict[int, dict[str, int]] | None:
        """partition -> topic -> end offset now; None if the broker does not say in time."""
        if not tps:
            return None
        try:
            ends = await asyncio.wait_for(app.consumer.highwaters(*tps), END_OFFSETS_TIMEOUT_S)
        except Exception as exc:  # fall back to time-based replay suspicion
            log.warning("%s: end offsets unavailable (%r); replay reconciliation is time-based", NAME, exc)
            return None
        out: dict[int, dict[str, int]] = {}
        for tp, end in ends.items():
            out.setdefault(tp.partition, {})[tp.topic] = int(end)
        return out

    @app.agent(spans_topic)
    async def assemble_spans(stream: Any) -> None:
        async for event in stream.noack().events():
            msg = event.message
            # records_in is counted by the faust sensor of instrument_faust_app.
            runtime.add_bundle((msg.topic, msg.partition, msg.offset), msg.value, msg.key, event, now())

    @app.agent(links_topic)
    async def assemble_links(stream: Any) -> None:
        async for event in stream.noack().events():
            msg = event.message
            runtime.add_link_record((msg.topic, msg.partition, msg.offset), msg.value, msg.key, event, now())

    @app.timer(settings.assembler_tick_s)  # type: ignore[untyped-decorator]
    async def release_due() -> None:
        await runtime.tick(now())

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's stub wants *args only
    async def _revoked(_app: Any, revoked: Any, **_: Any) -> None:
        runtime.revoke({tp.partition for tp in revoked if tp.topic in input_topics})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(_app: Any, assigned: Any, **_: Any) -> None:
        mine = [tp for tp in assigned if tp.topic in input_topics]
        owned = {tp.partition for tp in mine}
        runtime.assign(owned, now(), await end_offsets(mine))
        stats = runtime.windows.stats
        log.info(
            "%s: assigned partitions %s (so far: %d traces out, replays suppressed %d, merged %d)",
            NAME, sorted(owned), runtime.stats.traces_out, stats.replays_suppressed, stats.replays_merged,
        )  # fmt: skip

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _shutdown(_app: Any, **_: Any) -> None:
        log.info("%s: stopping; runtime %s; windows %s", NAME, runtime.stats, runtime.windows.stats)
        if release_on_shutdown:
            delivered = await runtime.release_all_and_flush(now(), SHUTDOWN_FLUSH_S)
            if not delivered:
                log.warning("shutdown: some traces were not delivered; their inputs stay uncommitted")
            with contextlib.suppress(Exception):  # the consumer may already be closed
                await app.consumer.commit()
        if runtime.index is not None:
            await asyncio.to_thread(runtime.index.shutdown)

    return app_rt, runtime


def build(settings: Settings) -> faust.App:
    """The trace-assembler faust app (`obspipe worker trace-assembler`)."""
    app_rt, _runtime = build_assembler(settings)
    return app_rt.app
