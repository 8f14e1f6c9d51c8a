"""alert-router: `alerts.raw` -> paging decisions on `alerts.pages`, shift figures on `oncall.stats`.

Wiring only; the work is in `pipeline.adapters.alert_runtime` (intake, state, outbox, acks; its
docstring gives the no-loss/no-double-send order) and the pure `pipeline.domain.alerting`.

Two agents in one app (one consumer group):
- intake: `alerts.raw` (any number of partitions, spread over the workers) -> decode and
  validate (bad records to the DLQ) -> one bundle of alerts per batch on the single partition
  of `<alerts.raw>.routing`; inputs are acked when their bundle is delivered.
- route: the one worker owning the routing partition routes every alert (grouping, inhibition
  and flap detection compare alerts with each other, as one Alertmanager does), saves state in
  Redis, sends decisions; its inputs are acked once state is saved and outputs delivered.
A timer every `alert_tick_s` fires group timers on the wall clock, retries unsaved state and
refreshes silences. Assignment of the routing partition loads its state and re-sends its
outbox (until the load succeeds the partition's bundles wait); revocation forgets it (the next
owner replays the unacked bundles), and bundles taken before a revocation are not routed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from pipeline.adapters.alert_runtime import AlertIntake, AlertRouterRuntime, InputRecord
from pipeline.adapters.alerting_files import load_alert_config, load_schedule
from pipeline.adapters.kafka.alert_routing_topic import ensure_routing_topic
from pipeline.adapters.observability import instrument_faust_app
from pipeline.domain.alerting.store import AlertStateStore, InMemoryAlertState
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime, dead_letter_policy

NAME = "alert-router"
INTAKE_BATCH_MAX = 500
ROUTE_BATCH_MAX = 20  # bundles, each of up to INTAKE_BATCH_MAX records' alerts
BATCH_WITHIN_S = 0.05
log = logging.getLogger(__name__)


def build_state_store(settings: Settings) -> AlertStateStore:
    """Redis at OBSPIPE_REDIS_URL, or an in-memory store (with a warning: nothing survives)."""
    if settings.redis_url:
        from pipeline.adapters.redis.alert_state import RedisAlertState

        return RedisAlertState.from_url(settings.redis_url, settings.alert_state_prefix)
    log.warning("no OBSPIPE_REDIS_URL: alert-router state is in memory and will not survive a restart")
    return InMemoryAlertState()


def build_router(settings: Settings, *, bootstrap: str | None = None,
                 store: AlertStateStore | None = None) -> tuple[AppRuntime, AlertRouterRuntime]:
    """The alert-router faust app and its routing runtime (tests and the benchmark read its counters)."""
    app_rt = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer = app_rt.app, app_rt.producer
    routing = ensure_routing_topic(settings, app_rt.bootstrap)
    raw_topic = app.topic(settings.topic_alerts_raw, key_type=bytes, value_type=bytes)
    routing_topic = app.topic(routing, key_type=bytes, value_type=bytes)
    dead_letter = dead_letter_policy(app_rt, instrument_faust_app(app, NAME, settings))

    intake = AlertIntake(producer, routing, dead_letter)
    runtime = AlertRouterRuntime(
        config=load_alert_config(settings), schedule=load_schedule(settings),
        store=store if store is not None else build_state_store(settings), producer=producer,
        topic_pages=settings.topic_pages, topic_stats=settings.topic_oncall_stats, dead_letter=dead_letter,
    )

    def record(event: Any) -> InputRecord:
        msg = event.message
        ts = msg.timestamp if msg.timestamp else time.time()
        return (msg.topic, msg.partition, msg.offset), msg.value, msg.key, event, float(ts)

    async def take_in(stream: Any) -> None:
        async for events in stream.noack().noack_take(INTAKE_BATCH_MAX, BATCH_WITHIN_S):
            intake.add_records([record(e) for e in events])
            producer.poll()

    async def route(stream: Any) -> None:
        async for events in stream.noack().noack_take(ROUTE_BATCH_MAX, BATCH_WITHIN_S):
            runtime.add_bundles([record(e) for e in events])
            producer.poll()

    app.agent(raw_topic, name=f"{NAME}.intake")(take_in)
    app.agent(routing_topic, name=f"{NAME}.route")(route)

    @app.timer(settings.alert_tick_s)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        now = time.time()
        runtime.tick(now)
        await runtime.retry_loads()
        await runtime.retry_saves(now)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(_app: Any, assigned: Any, **_: Any) -> None:
        runtime.assign([tp.partition for tp in assigned if tp.topic == routing])

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(_app: Any, revoked: Any, **_: Any) -> None:
        runtime.revoke(tp.partition for tp in revoked if tp.topic == routing)

    return app_rt, runtime


def build(settings: Settings) -> faust.App:
    """The alert-router faust app (`obspipe worker alert-router`)."""
    app_rt, _runtime = build_router(settings)
    return app_rt.app
