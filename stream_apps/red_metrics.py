"""red-metrics: span bundles on `obspipe.spans-by-trace` -> RED records on `metrics.red`.

Wiring only; the work is in `pipeline.adapters.red_runtime` (per-partition windows, output,
delivery-gated acks) and the pure `pipeline.domain.red`.

- One faust event is one bundle of spans (hundreds), consumed with `stream.noack()`; a bundle's
  event is acked once every window holding its spans is delivered, so faust commits only past
  spans whose windows exist downstream (at-least-once).
- Windows close by event-time watermark per input partition; a timer closes the windows of a
  partition that has been idle for `red_idle_flush_s`.
- Revoked partitions drop their open windows (the new owner replays them); `stream_wait_empty`
  is off (build_app) so held acks do not stall a rebalance.
- Bad bundles go to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import faust
from prometheus_client import Counter

from pipeline.adapters.observability import instrument_faust_app
from pipeline.adapters.red_runtime import RedRuntime
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime, dead_letter_policy

NAME = "red-metrics"
TICK_S = 1.0
SHUTDOWN_FLUSH_S = 10.0
log = logging.getLogger(__name__)


def build_red_metrics(
    settings: Settings, *, bootstrap: str | None = None, flush_on_shutdown: bool = False
) -> tuple[AppRuntime, RedRuntime]:
    """The red-metrics faust app and its runtime (tests and the benchmark read its stats)."""
    app_rt = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer = app_rt.app, app_rt.producer
    source = app.topic(settings.topic_spans_by_trace, key_type=bytes, value_type=bytes)
    metrics = instrument_faust_app(app, NAME, settings)
    runtime = RedRuntime(
        producer=producer,
        ack=lambda event: event.ack(),
        dead_letter=dead_letter_policy(app_rt, metrics),
        topic_red=settings.topic_red,
        source_topic=settings.topic_spans_by_trace,
        window_s=settings.red_window_s,
        allowed_lateness_s=settings.red_allowed_lateness_s,
        idle_flush_s=settings.red_idle_flush_s,
    )

    def now() -> float:
        return asyncio.get_running_loop().time()

    late_spans = Counter(
        "obspipe_red_late_spans", "Spans that arrived after their RED window closed.", ["app"],
        registry=metrics.registry,
    ).labels(app=NAME)

    @app.agent(source)
    async def aggregate(stream: Any) -> None:
        async for event in stream.noack().events():
            msg = event.message
            spans_before, late_before = runtime.stats.spans, runtime.stats.late_spans
            runtime.add_bundle((msg.topic, msg.partition, msg.offset), msg.value, msg.key, event, now())
            metrics.spans_in.inc(runtime.stats.spans - spans_before)
            if runtime.stats.late_spans > late_before:
                late_spans.inc(runtime.stats.late_spans - late_before)

    @app.timer(TICK_S)  # type: ignore[untyped-decorator]
    async def flush_idle() -> None:
        runtime.tick(now())

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's stub wants *args only
    async def _revoked(_app: Any, revoked: Any, **_: Any) -> None:
        runtime.revoke({tp.partition for tp in revoked if tp.topic == settings.topic_spans_by_trace})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _shutdown(_app: Any, **_: Any) -> None:
        log.info("%s: stopping; %s", NAME, runtime.stats)
        if flush_on_shutdown:
            runtime.flush_all()
            producer.flush(SHUTDOWN_FLUSH_S)
            with contextlib.suppress(Exception):  # the consumer may already be closed
                await app.consumer.commit()

    return app_rt, runtime


def build(settings: Settings) -> faust.App:
    """The red-metrics faust app (`obspipe worker red-metrics`)."""
    app_rt, _runtime = build_red_metrics(settings)
    return app_rt.app
