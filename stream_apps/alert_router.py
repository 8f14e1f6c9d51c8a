"""alert-router: `alerts.raw` -> paging decisions on `alerts.pages`, shift figures on `oncall.stats`.

Wiring only; the work is in `pipeline.adapters.alert_runtime` (state, outbox, acks; its
docstring gives the no-loss/no-double-send order) and the pure `pipeline.domain.alerting`.

- Input events are taken in batches with `noack_take` and acked by the runtime once the
  batch's state is saved in Redis and its outputs are delivered.
- A timer every `alert_tick_s` fires group timers (group_wait, group_interval, repeats) on
  the wall clock, retries unsaved state and refreshes silences.
- Partition assignment loads that partition's state from Redis and re-sends its outbox;
  revocation forgets it (the next owner replays the unacked inputs).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from pipeline.adapters.alert_runtime import AlertRouterRuntime, InputRecord, Position
from pipeline.adapters.alerting_files import load_alert_config, load_schedule
from pipeline.adapters.observability import instrument_faust_app
from pipeline.domain.alerting.store import AlertStateStore, InMemoryAlertState
from pipeline.errors import RecordError
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime

NAME = "alert-router"
BATCH_MAX = 500
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
    """The alert-router faust app and its runtime (tests and the benchmark read its counters)."""
    app_rt = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer, dead_letters = app_rt.app, app_rt.producer, app_rt.dead_letters
    source = app.topic(settings.topic_alerts_raw, key_type=bytes, value_type=bytes)
    metrics = instrument_faust_app(app, NAME, settings)

    def dead_letter(pos: Position, value: bytes | None, key: Any, exc: RecordError, event: Any) -> None:
        group = producer.group([event])
        topic, partition, offset = pos
        dead_letters.send(value, key, topic=topic, partition=partition, offset=offset, error=exc, group=group)
        group.seal()
        metrics.dlq_record(exc.reason)

    runtime = AlertRouterRuntime(
        config=load_alert_config(settings), schedule=load_schedule(settings),
        store=store if store is not None else build_state_store(settings), producer=producer,
        topic_pages=settings.topic_pages, topic_stats=settings.topic_oncall_stats, dead_letter=dead_letter,
    )

    def record(event: Any) -> InputRecord:
        msg = event.message
        ts = msg.timestamp if msg.timestamp else time.time()
        return (msg.topic, msg.partition, msg.offset), msg.value, msg.key, event, float(ts)

    async def route(stream: Any) -> None:
        async for events in stream.noack().noack_take(BATCH_MAX, BATCH_WITHIN_S):
            runtime.add_records([record(e) for e in events])
            producer.poll()

    app.agent(source, name=f"{NAME}.route")(route)

    @app.timer(settings.alert_tick_s)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        now = time.time()
        runtime.tick(now)
        await runtime.retry_saves(now)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(_app: Any, assigned: Any, **_: Any) -> None:
        mine = [tp.partition for tp in assigned if tp.topic == settings.topic_alerts_raw]
        runtime.assign(mine)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(_app: Any, revoked: Any, **_: Any) -> None:
        runtime.revoke(tp.partition for tp in revoked if tp.topic == settings.topic_alerts_raw)

    return app_rt, runtime


def build(settings: Settings) -> faust.App:
    """The alert-router faust app (`obspipe worker alert-router`)."""
    app_rt, _runtime = build_router(settings)
    return app_rt.app
