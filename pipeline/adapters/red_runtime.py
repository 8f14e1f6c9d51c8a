"""The red-metrics worker's runtime: span bundles in, `metrics.red` records out, acks when delivered.

Framework-free like `assembler_runtime`: the faust app feeds it bundles with an opaque handle
(the faust event) and calls `tick()` from a timer; the benchmark drives it the same way.

At-least-once order for one closed window (STYLE.md practice 8):
  1. produce one record per (service, operation, kind) of the window, keyed
     `service|operation|kind|window_start`, attached to one ack group;
  2. when librdkafka confirms all of them, the window's input handles are settled in the
     partition's aggregator; a handle whose every window is delivered is acked, and faust
     commits up to the first unacked offset.
A crash before 2 leaves the inputs uncommitted; the next owner replays them and emits the
windows again under the same keys, with `source` naming the input partition, so consumers
dedupe on (key, source) (the slo-burn store keeps the larger of two versions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.adapters.assembler_runtime import OutputProducer
from pipeline.domain.codec import decode_bundle
from pipeline.domain.red.aggregate import Emitted, RedAggregator
from pipeline.domain.windows import Position
from pipeline.errors import RecordError, ValidationError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RedStats:
    """Counters of one red-metrics worker."""

    bundles: int = 0
    spans: int = 0
    late_spans: int = 0
    records_out: int = 0
    windows_out: int = 0
    bad_records: dict[str, int] = field(default_factory=dict)


class _WindowDelivered:
    """Stands in the producer's ack group for one window: settles its handles once delivered."""

    __slots__ = ("partition", "runtime", "tokens")

    def __init__(self, runtime: RedRuntime, partition: int, tokens: list[Any]) -> None:
        self.runtime = runtime
        self.partition = partition
        self.tokens = tokens

    def ack(self) -> None:
        self.runtime.settled(self.partition, self.tokens)


@dataclass(slots=True)
class RedRuntime:
    """Per-partition RED aggregation of one worker, with delivery-gated acks."""

    producer: OutputProducer
    ack: Callable[[Any], None]
    # (position, value, key, error, handle): produce the dead letter and ack `handle` once delivered.
    dead_letter: Callable[[Position, bytes | None, Any, RecordError, Any], None]
    topic_red: str
    source_topic: str
    window_s: int
    allowed_lateness_s: int
    idle_flush_s: float
    stats: RedStats = field(default_factory=RedStats)
    aggregators: dict[int, RedAggregator[Any]] = field(default_factory=dict)
    last_seen: dict[int, float] = field(default_factory=dict)

    def add_bundle(self, position: Position, value: bytes | None, key: Any, handle: Any, now: float) -> None:
        """One record of the spans-by-trace topic: a bundle of spans."""
        _topic, partition, _offset = position
        try:
            if value is None:
                raise ValidationError("bundle: empty record value", reason="decode_error")
            spans = decode_bundle(value)
        except RecordError as exc:
            self.stats.bad_records[exc.reason] = self.stats.bad_records.get(exc.reason, 0) + 1
            self.dead_letter(position, value, key, exc, handle)
            return
        agg = self.aggregators.get(partition)
        if agg is None:
            agg = self.aggregators[partition] = RedAggregator(
                self.window_s, self.allowed_lateness_s, source=f"{self.source_topic}[{partition}]"
            )
        late_before = agg.late_spans
        emitted = agg.add_bundle(spans, handle)
        self.stats.bundles += 1
        self.stats.spans += len(spans)
        self.stats.late_spans += agg.late_spans - late_before
        self.last_seen[partition] = now
        self._emit(partition, emitted)

    def _emit(self, partition: int, emitted: Emitted[Any]) -> None:
        for handle in emitted.released:
            self.ack(handle)
        producer = self.producer
        for window in emitted.windows:
            group = producer.group([_WindowDelivered(self, partition, window.tokens)])
            for key, record in window.records:
                producer.produce(self.topic_red, orjson.dumps(record), key=key.encode(), group=group)
            group.seal()
            self.stats.records_out += len(window.records)
            self.stats.windows_out += 1
        if emitted.windows:
            producer.poll()

    def settled(self, partition: int, tokens: list[Any]) -> None:
        """A window's records are delivered: ack the handles that wait for nothing else."""
        agg = self.aggregators.get(partition)
        if agg is None:
            return  # revoked meanwhile: the new owner replays from the committed offset
        for handle in agg.settle(tokens):
            self.ack(handle)

    def tick(self, now: float) -> int:
        """Close the windows of partitions idle for `idle_flush_s` (event time stops when input does)."""
        flushed = 0
        for partition, agg in self.aggregators.items():
            if agg.open_windows and now - self.last_seen.get(partition, now) >= self.idle_flush_s:
                self._emit(partition, agg.flush())
                flushed += 1
        return flushed

    def flush_all(self) -> None:
        """Close every open window (a worker that nobody replaces, at shutdown)."""
        for partition, agg in self.aggregators.items():
            self._emit(partition, agg.flush())

    def revoke(self, partitions: Iterable[int]) -> None:
        """Drop the open windows of revoked partitions: their new owner replays them."""
        for partition in partitions:
            self.aggregators.pop(partition, None)
            self.last_seen.pop(partition, None)
