"""The alert router at run time: intake, then routing with state saved before outputs are sent.

`AlertIntake` decodes `alerts.raw` records and forwards their alerts in bundles to the
single-partition routing topic. `AlertRouterRuntime` keeps one `AlertPipeline` (router + shift
statistics) per owned routing partition (in practice the one); silences are shared and re-read
from the store every few seconds. Alerts run on event time (the record's
timestamp); a wall-clock tick (`OBSPIPE_ALERT_TICK_S`) fires group timers such as group_wait
when no alert arrives.

The no-loss, no-double-send order for every batch of decisions (STYLE.md practice 8):

1. The router decides; decisions get deterministic ids (group-key hash + notification
   sequence, or fingerprint + episode start + reason for suppressions).
2. The new state — groups, notification log, activation histories, shift figures — and the
   decisions themselves (the *outbox*) are saved in one Redis transaction. The notification
   log now says "sent", so a replay of the same input decides nothing new.
3. The decisions are produced to `alerts.pages` (key: group key), the shift figures to
   `oncall.stats` (key: shift id), through the app-owned acking producer.
4. When every output of the batch is delivered and the save succeeded, the input events are
   acked (faust then commits their offsets) and the outbox entries are deleted.
5. A new owner of the partition loads the state and first re-sends what the outbox still holds.
   Until that load succeeds it routes nothing of the partition: its records wait (unacked) and
   the load is retried every tick, since routing a replay on empty state would page again for
   every group the previous owner had already paged.

A kill -9 before step 2 loses nothing (the input is replayed and decided again, same ids);
between 2 and 4 the outbox re-sends (same ids: a duplicate only if delivery had completed in
the milliseconds before the crash, which consumers drop by `id`). If Redis is down, routing
and paging go on from memory; saves are retried every tick and acks wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.adapters.kafka.acking_producer import AckGroup, AckingProducer
from pipeline.domain.alerting.bundle import TimedAlert, decode_bundle, encode_bundles
from pipeline.domain.alerting.config import AlertConfig
from pipeline.domain.alerting.model import Alert, decode_alerts
from pipeline.domain.alerting.pipeline import AlertPipeline, Outputs
from pipeline.domain.alerting.schedule import Schedule
from pipeline.domain.alerting.silences import SilenceSet
from pipeline.domain.alerting.state import merge_stats, stats_from_json
from pipeline.domain.alerting.stats import PagingStats, ShiftStats
from pipeline.domain.alerting.store import (
    AlertStateStore,
    Changes,
    OutboxRecord,
    PartitionState,
    restore,
    take_changes,
)
from pipeline.errors import DecodeError, RecordError

log = logging.getLogger(__name__)

SILENCE_REFRESH_S = 2.0
# A partition whose state cannot be loaded holds its records this long before it is routed on
# empty state anyway (static stability: Redis must not stop paging for good); past that, pages
# decided before the handover may go out again (same ids).
LOAD_GRACE_S = 60.0
STORE_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError, TimeoutError)
try:  # redis-py's errors do not derive from OSError
    import redis

    STORE_ERRORS = (*STORE_ERRORS, redis.RedisError)
except ImportError:  # pragma: no cover - redis is a declared dependency
    pass

Position = tuple[str, int, int]
InputRecord = tuple[Position, bytes | None, Any, Any, float]  # position, value, key, event, event time
DeadLetter = Callable[[Position, bytes | None, Any, RecordError, Any], None]


@dataclass(slots=True)
class RouterCounters:
    """Counters the app exposes and the tests read."""

    alerts_in: int = 0
    records_in: int = 0
    decisions: int = 0
    pages: int = 0
    resent: int = 0
    save_failures: int = 0
    load_failures: int = 0
    stale_records: int = 0


class _Delivered:
    """Acked by an AckGroup once the batch is delivered and saved: the outbox entries can go."""

    __slots__ = ("_ids", "_partition", "_runtime")

    def __init__(self, runtime: AlertRouterRuntime, partition: int, ids: list[str]) -> None:
        self._runtime, self._partition, self._ids = runtime, partition, ids

    def ack(self) -> None:
        self._runtime.outbox_delivered(self._partition, self._ids)


class AlertRouterRuntime:
    """Routes the alert records of the partitions this worker owns (see module docstring)."""

    def __init__(self, *, config: AlertConfig, schedule: Schedule | None, store: AlertStateStore,
                 producer: AckingProducer, topic_pages: str, topic_stats: str,
                 dead_letter: DeadLetter, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.schedule = schedule
        self.store = store
        self.producer = producer
        self.topic_pages = topic_pages
        self.topic_stats = topic_stats
        self.dead_letter = dead_letter
        self.silences = SilenceSet()
        self.partitions: dict[int, AlertPipeline] = {}
        self.counters = RouterCounters()
        self.store_ok = True
        self._unsaved: dict[int, Changes] = {}
        self._held: dict[int, list[AckGroup]] = {}
        self._next_silence_refresh = 0.0
        self.clock = clock
        # Partitions assigned by the last rebalance (None before the first one); records of any
        # other partition are leftovers of a revoked assignment and are not routed here.
        self.owned: set[int] | None = None
        # Assigned partitions whose state is not loaded yet: their records, parked unacked, and
        # when the first load attempt failed.
        self._loading: dict[int, tuple[float, list[InputRecord]]] = {}

    # --- partitions ---------------------------------------------------------------------------
    def _new_pipeline(self) -> AlertPipeline:
        stats = PagingStats(self.schedule) if self.schedule is not None else None
        return AlertPipeline(self.config.build_router(self.silences, self.schedule), stats)

    def assign(self, partitions: Iterable[int]) -> None:
        """Own exactly `partitions` (a rebalance's assignment): load the state of new ones and
        re-send their undelivered outputs. A partition whose state cannot be loaded routes nothing
        until a retry (`retry_loads`) loads it."""
        partitions = list(partitions)
        log.info("alert-router: assigned partitions %s", sorted(partitions))
        self.owned = set(partitions)
        self.refresh_silences()
        for p in partitions:
            if p not in self.partitions and p not in self._loading:
                self._load(p)

    def _load(self, partition: int) -> bool:
        """Load and adopt a partition's state; on a store error, park its records instead."""
        try:
            state = self.store.load(partition)
        except STORE_ERRORS as exc:
            self._load_failed(partition, exc)
            return False
        self._adopt(partition, state)
        return True

    def _load_failed(self, partition: int, exc: BaseException) -> None:
        self.counters.load_failures += 1
        if partition not in self._loading:
            log.error("alert state of partition %d not loaded (%s): its records wait until it loads "
                      "(retried every tick)", partition, exc)
            self._loading[partition] = (self.clock(), [])

    def _adopt(self, partition: int, state: PartitionState | None) -> None:
        """Route `partition` from `state` (None: empty), re-sending its outbox, then its parked records."""
        pipeline = self._new_pipeline()
        if state is not None:
            restore(pipeline.router, pipeline.stats, state)
        self.partitions[partition] = pipeline
        outbox = list(state.outbox.values()) if state is not None else []
        for record in outbox:
            self._send([record], [], partition)
            self.counters.resent += 1
        log.info("alert-router: partition %d state %s: %d groups, %d log entries, %d outbox records re-sent",
                 partition, "loaded" if state is not None else "EMPTY", len(pipeline.router.groups),
                 len(pipeline.router.nflog), len(outbox))
        _since, parked = self._loading.pop(partition, (0.0, []))
        if parked:
            self.add_bundles(parked)

    async def retry_loads(self) -> None:
        """Load the state of assigned partitions that failed to load (called from the tick timer).
        After LOAD_GRACE_S of failures a partition is routed on empty state (see LOAD_GRACE_S)."""
        for partition, (since, _parked) in list(self._loading.items()):
            try:
                state = await asyncio.to_thread(self.store.load, partition)
            except STORE_ERRORS as exc:
                self.counters.load_failures += 1
                if self.clock() - since < LOAD_GRACE_S or partition not in self._loading:
                    continue
                log.error("alert state of partition %d still not loaded after %.0f s (%s): routing it on "
                          "empty state; pages decided before the handover may be sent again (same ids)",
                          partition, LOAD_GRACE_S, exc)
                state = None
            if partition in self._loading:  # not revoked meanwhile
                self._adopt(partition, state)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions: their unacked inputs are replayed by the next owner. State
        not yet saved (store down) gets one last attempt, so that the replay pages nobody twice."""
        for p in partitions:
            if self.owned is not None:
                self.owned.discard(p)
            if p in self.partitions and p in self._unsaved:
                self._save(p, Changes(), force=True)
            self.partitions.pop(p, None)
            self._unsaved.pop(p, None)
            self._held.pop(p, None)
            self._loading.pop(p, None)

    # --- input ----------------------------------------------------------------------------------
    def add_bundles(self, records: Iterable[InputRecord]) -> None:
        """Route a batch of routing-topic records (alert bundles from the intake), each alert at
        its own event time; one state save and one ack group per partition of the batch."""
        batches: dict[int, tuple[Outputs, list[Any]]] = {}
        for rec in records:
            pos, value, key, event, _ts = rec
            partition = pos[1]
            self.counters.records_in += 1
            pipeline = self.partitions.get(partition)
            if pipeline is None:
                if self.owned is not None and partition not in self.owned:
                    # Taken before a rebalance revoked the partition: its owner replays it from
                    # the committed offset. Routing it here would revive a second router.
                    self.counters.stale_records += 1
                    continue
                if partition not in self._loading:  # a record before the first assignment callback
                    self._load(partition)
                loading = self._loading.get(partition)
                if loading is not None:
                    loading[1].append(rec)  # state not loaded yet: routed once it is
                    continue
                pipeline = self.partitions[partition]
            try:
                alerts = decode_bundle(value)
            except RecordError as exc:
                self.dead_letter(pos, value, key, exc, event)
                continue
            out, events = batches.setdefault(partition, (Outputs(), []))
            for ts, alert in alerts:
                out.extend(pipeline.on_alert(alert, ts))
            events.append(event)
            self.counters.alerts_in += len(alerts)
        for partition, (out, events) in batches.items():
            self._commit(partition, self.partitions[partition], out, events)

    def tick(self, now: float) -> None:
        """Fire due group timers of every partition at wall-clock `now`."""
        for p, pipeline in list(self.partitions.items()):
            out = pipeline.tick(now)
            if out.decisions or pipeline.router.dirty or p in self._unsaved:
                self._commit(p, pipeline, out, [])

    # --- output, state, acks ------------------------------------------------------------------------
    def _commit(self, partition: int, pipeline: AlertPipeline, out: Outputs, events: list[Any]) -> None:
        records = [OutboxRecord(d.id, self.topic_pages, d.group_key, orjson.dumps(d.to_json()))
                   for d in out.decisions]
        self.counters.decisions += len(records)
        self.counters.pages += sum(1 for d in out.decisions if d.is_page)
        changes = take_changes(pipeline.router, pipeline.stats, set(out.shifts))
        changes.outbox.update({r.id: r for r in records})
        saved = self._save(partition, changes)
        stats = [self._shift_record(partition, s) for s in out.shifts.values()] if saved else []
        self._send(records + stats, events, partition, saved=saved)

    def _send(self, records: list[OutboxRecord], events: list[Any], partition: int, *,
              saved: bool = True) -> None:
        marker = _Delivered(self, partition, [r.id for r in records if r.topic == self.topic_pages])
        group = self.producer.group([*events, marker])
        group.attach()  # released when the state of this batch is saved
        for r in records:
            self.producer.produce(r.topic, r.value, key=r.key.encode(), group=group)
        group.seal()
        if saved:
            group.delivered(True)
        else:
            self._held.setdefault(partition, []).append(group)

    def _shift_record(self, partition: int, ours: ShiftStats) -> OutboxRecord:
        """The shift's figures over every partition (ours from memory, the others from the store)."""
        parts = [ours]
        with contextlib.suppress(*STORE_ERRORS):
            stored = self.store.shift_stats(ours.shift.id)
            parts += [stats_from_json(raw) for p, raw in stored.items() if p != partition]
        merged = merge_stats(parts) if len(parts) > 1 else ours
        return OutboxRecord(f"stats:{ours.shift.id}", self.topic_stats, ours.shift.id,
                            orjson.dumps(merged.to_json()))

    def _save(self, partition: int, changes: Changes, *, force: bool = False) -> bool:
        pending = self._unsaved.pop(partition, None)
        if pending is not None:
            pending.absorb(changes)
            changes = pending
        if not changes:
            return True
        if not self.store_ok and not force:
            self._unsaved[partition] = changes
            return False
        try:
            self.store.save(partition, changes)
        except STORE_ERRORS as exc:
            if self.store_ok:
                log.error("alert state not saved (%s): routing on in-memory state, acks held", exc)
            self.store_ok = False
            self.counters.save_failures += 1
            self._unsaved[partition] = changes
            return False
        self.store_ok = True
        for group in self._held.pop(partition, []):
            group.delivered(True)
        return True

    def outbox_delivered(self, partition: int, ids: list[str]) -> None:
        """Every output of a batch is delivered and its state saved: drop its outbox entries."""
        if ids and partition in self.partitions:
            self._save(partition, Changes(outbox=dict.fromkeys(ids)))

    async def retry_saves(self, now: float) -> None:
        """Retry unsaved state (off the loop) and refresh silences; called from the tick timer."""
        if now >= self._next_silence_refresh:
            self._next_silence_refresh = now + SILENCE_REFRESH_S
            await asyncio.to_thread(self.refresh_silences)
        if self.store_ok or not self._unsaved:
            return
        partition = next(iter(self._unsaved))
        changes = self._unsaved.pop(partition)
        try:
            await asyncio.to_thread(self.store.save, partition, changes)
        except STORE_ERRORS:
            newer = self._unsaved.pop(partition, None)
            if newer is not None:
                changes.absorb(newer)
            self._unsaved[partition] = changes
            return
        log.warning("alert state saved again: Redis is back")
        self.store_ok = True
        for p in list(self._unsaved):
            self._save(p, Changes())
        for group in self._held.pop(partition, []):
            group.delivered(True)

    def refresh_silences(self) -> None:
        with contextlib.suppress(*STORE_ERRORS):  # on failure keep the silences we have
            self.silences.replace_all(self.store.silences())


def decode_raw(value: bytes | None, ts: float) -> list[Alert]:
    """The alerts of one `alerts.raw` record.

    Raises:
        RecordError: empty, not JSON, or not a valid webhook payload / alert (field named).
    """
    if not value:
        raise DecodeError("empty record (a tombstone): no alerts", field="value")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}", field="value") from None
    return decode_alerts(obj, default_now=ts)


class AlertIntake:
    """The intake stage: `alerts.raw` records (any partition, any worker) -> validated alerts,
    one bundle per batch, on partition 0 of the single-partition routing topic. Inputs are acked
    when their bundle is delivered; bad records go to the dead-letter policy."""

    def __init__(self, producer: AckingProducer, routing_topic: str, dead_letter: DeadLetter) -> None:
        self.producer = producer
        self.routing_topic = routing_topic
        self.dead_letter = dead_letter
        self.records_in = 0
        self.alerts_in = 0

    def add_records(self, records: Iterable[InputRecord]) -> None:
        items: list[TimedAlert] = []
        good: list[Any] = []
        for pos, value, key, event, ts in records:
            self.records_in += 1
            try:
                alerts = decode_raw(value, ts)
            except RecordError as exc:
                self.dead_letter(pos, value, key, exc, event)
                continue
            items.extend((ts, a) for a in alerts)
            good.append(event)
        self.alerts_in += len(items)
        group = self.producer.group(good)
        for bundle in encode_bundles(items):
            self.producer.produce(self.routing_topic, bundle, partition=0, group=group)
        group.seal()
