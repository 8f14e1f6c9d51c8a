"""slo-burn: `metrics.red` and `otlp_metrics` -> per-minute SLO buckets in Redis -> `slo.status`
and SLO burn alerts on `alerts.raw`.

Wiring only; the work is in `pipeline.adapters.slo_runtime` and the pure `pipeline.domain.slo`.
State (buckets, counter samples, alert state) lives in Redis (`RedisSloStore`): it survives a
restart and a kill -9, which a faust table on the embedded broker would not (DESIGN.md §5).
Input events are taken in batches with `noack()` and acked once the batch's outputs are
delivered and its state saved. Workers scale out in one consumer group: each stores what it
consumes, and each SLO is evaluated by the worker owning partition fnv1a_32(name) % partitions
of `metrics.red` (see `pipeline.adapters.slo_runtime`).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from pipeline.adapters.observability import instrument_faust_app
from pipeline.adapters.redis.slo_store import RedisSloStore
from pipeline.adapters.slo_runtime import InputRecord, SloRuntime
from pipeline.domain.slo.definitions import load_slos
from pipeline.domain.slo.store import SloStore
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime, dead_letter_policy
from stream_apps.span_ingest import content_type

NAME = "slo-burn"
BATCH_MAX = 500
BATCH_WITHIN_S = 0.5
TICK_S = 1.0  # how often minutes closed by other workers' input are evaluated
log = logging.getLogger(__name__)


def build_store(settings: Settings) -> SloStore:
    """The Redis store of OBSPIPE_REDIS_URL (or an embedded Valkey, whose state dies with it)."""
    from pipeline.adapters.infra import ensure_redis

    url, server = ensure_redis(settings)
    if server is not None:
        log.warning("no OBSPIPE_REDIS_URL: SLO state is in an embedded Valkey that dies with this worker")
    return RedisSloStore.from_url(url, prefix=settings.slo_state_prefix)


def build_slo_burn(
    settings: Settings, *, bootstrap: str | None = None, store: SloStore | None = None
) -> tuple[AppRuntime, SloRuntime]:
    """The slo-burn faust app and its runtime.

    Raises:
        ConfigError: OBSPIPE_SLO_FILE is not set, or the file is invalid.
    """
    if settings.slo_file is None:
        raise ConfigError("OBSPIPE_SLO_FILE is not set: slo-burn needs SLO definitions (YAML)")
    slos = load_slos(settings.slo_file)
    app_rt = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer = app_rt.app, app_rt.producer
    metrics = instrument_faust_app(app, NAME, settings)

    runtime = SloRuntime(
        slos=slos,
        store=store if store is not None else build_store(settings),
        producer=producer,
        ack=lambda event: event.ack(),
        dead_letter=dead_letter_policy(app_rt, metrics),
        topic_status=settings.topic_slo_status,
        topic_alerts=settings.topic_alerts_raw,
        partitions=settings.topic_partitions,
        owned_partitions=set(),  # evaluates nothing until the group assigns partitions
        expected_sources=tuple(f"{settings.topic_red}[{p}]" for p in range(settings.topic_partitions)),
    )
    runtime.load()

    def records(events: list[Any]) -> list[InputRecord]:
        out = []
        for event in events:
            msg = event.message
            position = (msg.topic, msg.partition, msg.offset)
            out.append(InputRecord(position, msg.value, msg.key, event, content_type(msg.headers)))
        return out

    red_topic = app.topic(settings.topic_red, key_type=bytes, value_type=bytes)
    metrics_topic = app.topic(settings.topic_metrics_in, key_type=bytes, value_type=bytes)

    @app.agent(red_topic)
    async def red_in(stream: Any) -> None:
        async for events in stream.noack().noack_take(BATCH_MAX, BATCH_WITHIN_S):
            runtime.add_red_batch(records(events))

    @app.agent(metrics_topic)
    async def metrics_in(stream: Any) -> None:
        async for events in stream.noack().noack_take(BATCH_MAX, BATCH_WITHIN_S):
            runtime.add_metric_batch(records(events))

    @app.timer(TICK_S)  # type: ignore[untyped-decorator]
    async def evaluate_closed_minutes() -> None:
        runtime.tick()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's stub wants *args only
    async def _assigned(_app: Any, assigned: Any, **_: Any) -> None:
        runtime.assign({tp.partition for tp in assigned if tp.topic == settings.topic_red})
        log.info("%s: evaluating %s", NAME, [slo.name for slo in slos if runtime.owns(slo.name)])

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _shutdown(_app: Any, **_: Any) -> None:
        log.info("%s: stopping; %s", NAME, runtime.stats)

    return app_rt, runtime


def build(settings: Settings) -> faust.App:
    """The slo-burn faust app (`obspipe worker slo-burn`)."""
    app_rt, _runtime = build_slo_burn(settings)
    return app_rt.app
