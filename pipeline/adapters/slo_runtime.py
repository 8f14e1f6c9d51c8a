"""The slo-burn worker's runtime: RED records and metric samples in, SLO status and alerts out.

Framework-free: the faust app feeds it batches of records with opaque handles (faust events).
Evaluation runs in event time: once a record of minute m arrives, every minute before m is
final and is evaluated (at most `MAX_CATCH_UP_MINUTES` of them after a jump in time).

Several workers: every worker stores the contributions of the records it consumes, but each SLO
is evaluated by one worker only, the owner of partition fnv1a_32(name) % partitions of the
input; before evaluating, the owner re-reads the last `REFRESH_MINUTES` minutes of the SLO's
buckets from the store, and on a rebalance a new owner reloads the SLO's buckets and alert state.

At-least-once order for one batch (STYLE.md practice 8):
  1. store the batch's contributions in the state store (idempotent: a replay after a crash
     replaces, never adds) and feed the resulting bucket changes to the evaluators;
  2. evaluate the minutes the batch closed; produce their `slo.status` records and alerts,
     attached to one ack group with the batch's events;
  3. when all are delivered, save every evaluator's alert state and latest status, then ack
     the batch's events; faust commits past them.
A crash before 3 re-evaluates those minutes after the restart: statuses and alerts may repeat
(same fingerprint and startsAt), spent budget is never lost or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.adapters.assembler_runtime import OutputProducer
from pipeline.domain.metrics_codec import decode_metrics
from pipeline.domain.partitioning import fnv1a_32
from pipeline.domain.slo.buckets import NS_PER_MINUTE
from pipeline.domain.slo.definitions import SloDefinition
from pipeline.domain.slo.evaluate import SloEvaluator
from pipeline.domain.slo.sli import metric_contributions, red_contributions
from pipeline.domain.slo.store import Contribution, SloStore
from pipeline.domain.windows import Position
from pipeline.errors import DecodeError, RecordError

log = logging.getLogger(__name__)

# After a jump in event time, evaluate at most the last 3 days of minutes (the longest alert
# window); older minutes would only repeat "no alert" while the windows drain.
MAX_CATCH_UP_MINUTES = 4320
# A partition that has reported nothing for this long (wall clock) is idle: evaluation does not
# wait for it. Event time alone cannot tell an idle partition from a slow one.
IDLE_S = 10.0
# The owner of an SLO drops buckets no window reaches any more about once an hour of event time.
PRUNE_EVERY_MINUTES = 60
# With several workers, the owner of an SLO re-reads this many recent minutes of its buckets
# from the store before evaluating, to take in what other workers added.
REFRESH_MINUTES = 10


@dataclass(slots=True)
class SloStats:
    """Counters of one slo-burn worker."""

    red_records: int = 0
    metric_records: int = 0
    contributions: int = 0
    evaluations: int = 0
    alerts_out: int = 0
    bad_records: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One consumed record and the handle to ack once everything made from it is delivered."""

    position: Position
    value: bytes | None
    key: Any
    handle: Any
    content_type: str | None = None


class _SaveThenAck:
    """Stands in the producer's ack group: persists the batch's alert state, then acks the batch."""

    __slots__ = ("handles", "runtime", "seq", "snapshot")

    def __init__(self, runtime: SloRuntime, handles: list[Any], seq: int) -> None:
        self.runtime = runtime
        self.handles = handles
        self.seq = seq
        self.snapshot: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def ack(self) -> None:
        self.runtime.save_state(self.snapshot, self.seq)
        for handle in self.handles:
            self.runtime.ack(handle)


@dataclass(slots=True)
class SloRuntime:
    """Evaluators of every SLO, fed through the state store."""

    slos: list[SloDefinition]
    store: SloStore
    producer: OutputProducer
    ack: Callable[[Any], None]
    dead_letter: Callable[[Position, bytes | None, Any, RecordError, Any], None]
    topic_status: str
    topic_alerts: str
    clock: Callable[[], float] = time.time  # wall clock: only to tell idle input partitions
    # Input partitions ("topic[p]") whose watermarks evaluation waits for, once they report.
    expected_sources: tuple[str, ...] = ()
    stats: SloStats = field(default_factory=SloStats)
    evaluators: dict[str, SloEvaluator] = field(default_factory=dict)
    partitions: int = 1
    # Input partitions this worker owns; None = a single worker that evaluates every SLO.
    owned_partitions: set[int] | None = None
    watermark_minute: int | None = None
    first_minute: int | None = None
    _started_s: float | None = None
    _seq: int = 0
    _saved_seq: dict[str, int] = field(default_factory=dict)

    def load(self) -> None:
        """Rebuild the evaluators from the store (start-up, also after a kill -9)."""
        for slo in self.slos:
            self._reload(slo)

    def _reload(self, slo: SloDefinition) -> None:
        ev = self.evaluators[slo.name] = SloEvaluator(slo)
        for minute, (good, total) in self.store.buckets(slo.name, 0).items():
            ev.add(minute, good, total)
            self._see(minute)
        state = self.store.load_state(slo.name)
        if state:
            ev.restore(state)
            if ev.last_evaluated is not None:
                self._see(ev.last_evaluated)

    def owns(self, name: str) -> bool:
        """True when this worker evaluates SLO `name`."""
        owned = self.owned_partitions
        return owned is None or fnv1a_32(name.encode()) % self.partitions in owned

    def assign(self, partitions: set[int]) -> None:
        """The worker's new input partitions; SLOs it now owns are reloaded from the store."""
        before = {slo.name for slo in self.slos if self.owns(slo.name)}
        self.owned_partitions = set(partitions)
        for slo in self.slos:
            if self.owns(slo.name) and slo.name not in before:
                self._reload(slo)

    def _refresh(self, ev: SloEvaluator, start: int, end: int) -> None:
        """Take in bucket changes other workers stored for minutes start..end."""
        minutes = list(range(start, end + 1))
        win = ev.windows
        for minute, (good, total) in self.store.bucket_values(ev.slo.name, minutes).items():
            dg, dt = good - win.good.get(minute, 0), total - win.total.get(minute, 0)
            if dg or dt:
                ev.add(minute, dg, dt)

    def _see(self, minute: int) -> None:
        if self.first_minute is None or minute < self.first_minute:
            self.first_minute = minute
        if self.watermark_minute is None or minute > self.watermark_minute:
            self.watermark_minute = minute

    # ---- input --------------------------------------------------------------------------
    def add_red_batch(self, records: Sequence[InputRecord]) -> None:
        """A batch of `metrics.red` records."""
        contributions: list[Contribution] = []
        good_handles = []
        minutes: dict[str, int] = {}
        lowest: int | None = None
        for rec in records:
            try:
                if rec.value is None:
                    raise DecodeError("empty record value")
                try:
                    doc = orjson.loads(rec.value)
                except orjson.JSONDecodeError as exc:
                    raise DecodeError(f"not valid JSON: {exc}") from None
                contributions.extend(red_contributions(self.slos, doc))
            except RecordError as exc:
                self._reject(rec, exc)
                continue
            good_handles.append(rec.handle)
            minute = doc["window_start_unix_nano"] // NS_PER_MINUTE
            _raise(minutes, rec, minute)
            lowest = minute if lowest is None else min(lowest, minute)
        self.stats.red_records += len(records)
        self._apply(contributions, good_handles, minutes, lowest)

    def add_metric_batch(self, records: Sequence[InputRecord]) -> None:
        """A batch of `otlp_metrics` records (OTLP metrics or obspipe samples)."""
        samples = []
        good_handles = []
        minutes: dict[str, int] = {}
        for rec in records:
            try:
                if rec.value is None:
                    raise DecodeError("empty record value")
                decoded = decode_metrics(rec.value, rec.content_type)
            except RecordError as exc:
                self._reject(rec, exc)
                continue
            samples.extend(decoded)
            good_handles.append(rec.handle)
            for sample in decoded:
                _raise(minutes, rec, sample.time_unix_nano // NS_PER_MINUTE)
        self.stats.metric_records += len(records)
        series = sorted({s.series for s in samples if s.kind == "counter" and s.temporality == "cumulative"})
        last = self.store.last_samples(series)
        contributions, newest = metric_contributions(self.slos, samples, last)
        lowest = min((sample.time_unix_nano for sample in samples), default=None)
        self._apply(contributions, good_handles, minutes, None if lowest is None else lowest // NS_PER_MINUTE)
        # Only after the contributions are stored: a crash in between recomputes the same ones.
        self.store.set_last_samples(newest)

    def _reject(self, rec: InputRecord, exc: RecordError) -> None:
        self.stats.bad_records[exc.reason] = self.stats.bad_records.get(exc.reason, 0) + 1
        self.dead_letter(rec.position, rec.value, rec.key, exc, rec.handle)

    def _apply(
        self,
        contributions: list[Contribution],
        handles: list[Any],
        minutes: dict[str, int],
        lowest: int | None,
    ) -> None:
        """Store contributions, then evaluate; every input's minute moves event time (`minutes`:
        input partition -> newest minute; `lowest`: the oldest minute in the batch), even one that
        matches no SLO or adds nothing."""
        for delta in self.store.apply(contributions):
            ev = self.evaluators.get(delta.slo)
            if ev is not None:
                ev.add(delta.minute, delta.good, delta.total)
        if self.owned_partitions is not None:
            self.store.report_watermarks(minutes, self.clock())  # after the contributions: they are in
        for minute in minutes.values():
            self._see(minute)
        if lowest is not None:
            self._see(lowest)
        self.stats.contributions += len(contributions)
        self._evaluate_closed(handles)

    # ---- evaluation ---------------------------------------------------------------------
    def tick(self) -> None:
        """Evaluate what other workers' input has closed (several workers; a timer calls this)."""
        if self.owned_partitions:
            self._evaluate_closed([])

    def _last_closed(self) -> int | None:
        if self.watermark_minute is None:
            return None
        if self.owned_partitions is None:
            return self.watermark_minute - 1
        marks = self.store.watermarks()
        now = self.clock()
        if self._started_s is None:
            self._started_s = now
        if now - self._started_s < IDLE_S and any(source not in marks for source in self.expected_sources):
            return None  # a partition that has not reported yet may still be on its way
        if not marks:
            return None
        active = [minute for minute, stamp in marks.values() if now - stamp < IDLE_S]
        return min(active or [max(minute for minute, _ in marks.values())]) - 1

    def _evaluate_closed(self, handles: list[Any]) -> None:
        """Evaluate every closed minute not evaluated yet; outputs gate the acks."""
        self._seq += 1
        saver = _SaveThenAck(self, handles, self._seq)
        group = self.producer.group([saver])
        last_closed = self._last_closed()
        shared = self.owned_partitions is not None
        if shared and last_closed is not None and self.first_minute is None:
            # Other workers' input closed minutes before any reached this one: start from the store.
            for slo in self.slos:
                if self.owns(slo.name):
                    self._reload(slo)
        if last_closed is not None and self.first_minute is not None:
            for name, ev in self.evaluators.items():
                if not self.owns(name):
                    continue
                start = self.first_minute if ev.last_evaluated is None else ev.last_evaluated + 1
                start = max(start, last_closed - MAX_CATCH_UP_MINUTES + 1)
                if shared and start <= last_closed:
                    self._refresh(ev, start - REFRESH_MINUTES, last_closed)
                status = None
                for minute in range(start, last_closed + 1):
                    status = self._evaluate(ev, minute, group)
                if status is not None:
                    # The state as of these outputs, saved only once they are delivered.
                    saver.snapshot[ev.slo.name] = (ev.state(), status)
                if start // PRUNE_EVERY_MINUTES != (last_closed + 1) // PRUNE_EVERY_MINUTES:
                    self.store.prune(name, last_closed - ev.windows.longest)
        group.seal()
        self.producer.poll()

    def _evaluate(self, ev: SloEvaluator, minute: int, group: Any) -> dict[str, Any]:
        result = ev.evaluate(minute)
        name = ev.slo.name
        self.producer.produce(self.topic_status, orjson.dumps(result.status), key=name.encode(), group=group)
        for alert in result.alerts:
            self.producer.produce(
                self.topic_alerts, orjson.dumps(alert), key=alert["fingerprint"].encode(), group=group
            )
            self.stats.alerts_out += 1
        self.stats.evaluations += 1
        return result.status

    def save_state(self, snapshot: dict[str, tuple[dict[str, Any], dict[str, Any]]], seq: int) -> None:
        """Persist alert states and statuses whose outputs are delivered (never an older one
        over a newer one: deliveries of different batches may complete out of order)."""
        for name, (state, status) in sorted(snapshot.items()):
            if seq > self._saved_seq.get(name, 0):
                self.store.save_state(name, state, status)
                self._saved_seq[name] = seq


def _raise(minutes: dict[str, int], rec: InputRecord, minute: int) -> None:
    """Note `minute` as seen on the record's input partition."""
    topic, partition, _offset = rec.position
    source = f"{topic}[{partition}]"
    if minute > minutes.get(source, minute - 1):
        minutes[source] = minute
