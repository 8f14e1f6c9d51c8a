"""The trace assembler's runtime: input records in, assembled traces out, acks at the right time.

Framework-free (no faust import): the faust app in `stream_apps/trace_assembler.py` feeds it
records with an opaque *handle* (the faust event) and calls `tick()` from a timer; the
benchmark and tests can drive it the same way. The pieces: the pure window store
(`pipeline.domain.windows`), the pure assembler (`pipeline.domain.assembly`), an output
producer with confluent-kafka's `produce/poll/flush` surface, and a `TraceIndex`.

At-least-once order for one released trace (STYLE.md practice 8):
  1. produce the assembled record to the traces topic and one record per outgoing link to
     the links topic (keyed and partitioned by the target trace id);
  2. when librdkafka confirms delivery of *all* of them, and of the other traces released in
     the same tick (one ack group per release), `settle` the trace's input positions
     in the window store; every record whose count reaches zero is acked (`ack(handle)`),
     and faust commits up to the first unacked offset;
  3. only then put the record into the trace index (off the critical path: buffered).
A crash anywhere before 2 leaves the inputs uncommitted: the next owner replays them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaException

from pipeline.adapters.assembler_records import (
    encode_links,
    encode_record,
    outgoing_links,
    parse_link_record,
    prior_from_record,
    truncate_record,
)
from pipeline.adapters.kafka.acking_producer import produce_in_halves, too_large
from pipeline.domain.assembly import AssemblyOptions, assemble_trace
from pipeline.domain.codec import decode_bundle
from pipeline.domain.propagation_rules import PropagationWatch
from pipeline.domain.trace_index import IndexWrite, TraceIndex, index_write
from pipeline.domain.windows import Position, PriorTrace, Released, TraceWindows
from pipeline.errors import RecordError, ValidationError

log = logging.getLogger(__name__)

RELEASED_AT_HEADER = "obspipe-released-at"  # wall-clock ns at release: for latency measurement
LOOKUP_PAUSE_S = 10.0


class OutputProducer(Protocol):
    """What the runtime needs of a producer: `pipeline.adapters.kafka.acking_producer.AckingProducer`.

    `group(events)` holds objects whose `ack()` runs once every output attached to the group
    (by `produce(..., group=g)`) is delivered and the group is sealed.
    """

    def group(self, events: Sequence[Any]) -> Any: ...
    def produce(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = ...,
        partition: int | None = ...,
        headers: Any = ...,
        group: Any = ...,
    ) -> None: ...
    def poll(self) -> int: ...
    def flush(self, timeout: float = ...) -> int: ...


@dataclass(slots=True)
class RuntimeStats:
    """Counters beyond PipelineMetrics' (which the app may also pass in)."""

    bundles: int = 0
    spans_in: int = 0
    links_in: int = 0
    traces_out: int = 0
    spans_out: int = 0
    links_out: int = 0
    bad_records: dict[str, int] = field(default_factory=dict)
    replay_lookups: int = 0
    replay_lookup_failures: int = 0
    truncated: int = 0  # traces whose record was cut to fit message.max.bytes


@dataclass(slots=True)
class _Emitted:
    """Stands in the producer's ack group for the traces released together: acked once every
    output of all of them is delivered. One group per release, not per trace: librdkafka
    delivers a release's records together anyway, and a group, a callback and metric updates
    per trace cost a few percent of the assembler's CPU."""

    runtime: AssemblerRuntime
    produced_at: float  # monotonic s, for the release -> delivery latency
    headers: list[tuple[str, bytes]] = field(default_factory=list)  # of the assembled records
    # (released trace, spans in its record, its index write or None). Not the record itself:
    # it is freed right after encoding, while still in the CPU cache; held until delivery it
    # was freed cold, ~2 µs per span more (in one process, 11.9 → 9.5 µs per span).
    traces: list[tuple[Released, int, IndexWrite | None]] = field(default_factory=list)
    links: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # target partition -> links

    def ack(self) -> None:
        self.runtime._delivered(self)


@dataclass(slots=True)
class AssemblerRuntime:
    """Wiring of one trace-assembler worker; build it with `build_runtime`."""

    windows: TraceWindows
    producer: OutputProducer
    ack: Callable[[Any], None]
    # (position, value, key, error, handle): produce the dead letter and ack `handle` once delivered.
    dead_letter: Callable[[Position, bytes | None, Any, RecordError, Any], None]
    partition_for: Callable[[str], int]
    topic_traces: str
    topic_links: str
    assembly: AssemblyOptions
    index: TraceIndex | None = None
    # Cross-trace rules (LOST_CONTEXT_SUSPECTED, CONTEXT_LEAK_SUSPECTED) over each group of
    # traces released together; one per worker, its evidence bounded in span count and time.
    propagation: PropagationWatch | None = None
    metrics: Any = None  # pipeline.adapters.observability.PipelineMetrics, optional
    release_latency: Any = None  # a prometheus Histogram (child): release -> delivery, seconds
    lookup_timeout_s: float = 2.0
    max_record_bytes: int = 1_000_000  # the producer's message.max.bytes: larger traces are truncated
    wall_ns: Callable[[], int] = time.time_ns
    stats: RuntimeStats = field(default_factory=RuntimeStats)
    _handles: dict[Position, Any] = field(default_factory=dict)
    _assigned: set[int] = field(default_factory=set)
    _lookups_paused_until: float = 0.0

    # ---- input --------------------------------------------------------------------------
    def add_bundle(self, position: Position, value: bytes | None, key: Any, handle: Any, now: float) -> None:
        """One record of the spans-by-trace topic (a bundle of spans of one partition)."""
        try:
            if value is None:
                raise ValidationError("bundle: empty record value", reason="decode_error")
            spans = decode_bundle(value)
        except RecordError as exc:
            self._reject(position, value, key, handle, exc)
            return
        self._handles[position] = handle
        self.windows.add_spans(position, spans, now)
        self.stats.bundles += 1
        self.stats.spans_in += len(spans)
        if self.metrics is not None:
            self.metrics.spans_in.inc(len(spans))
        self._ack_ready()

    def add_link_record(
        self, position: Position, value: bytes | None, key: Any, handle: Any, now: float
    ) -> None:
        """One record of the links topic: a JSON array of links to traces of one partition (or one
        link object, as earlier versions wrote), each `{trace_id, span_id, from_trace_id,
        from_span_id, attributes}`."""
        try:
            links = parse_link_record(value)
        except RecordError as exc:
            self._reject(position, value, key, handle, exc)
            return
        self._handles[position] = handle
        self.windows.add_links(position, links, now)
        self.stats.links_in += len(links)
        self._ack_ready()

    def _reject(
        self, position: Position, value: bytes | None, key: Any, handle: Any, exc: RecordError
    ) -> None:
        self.stats.bad_records[exc.reason] = self.stats.bad_records.get(exc.reason, 0) + 1
        self.dead_letter(position, value, key, exc, handle)

    def _ack_ready(self) -> None:
        for pos in self.windows.take_ready():
            handle = self._handles.pop(pos, None)
            if handle is not None:
                self.ack(handle)

    # ---- partitions ---------------------------------------------------------------------
    def assign(
        self, partitions: Iterable[int], now: float, end_offsets: Mapping[int, dict[str, int]] | None = None
    ) -> None:
        """Own `partitions` from now; `end_offsets` (partition -> topic -> end offset at
        assignment) narrows replay reconciliation to the records a previous owner may have seen."""
        for p in partitions:
            self._assigned.add(p)
            self.windows.assign_partition(p, now, (end_offsets or {}).get(p))

    def revoke(self, partitions: Iterable[int]) -> None:
        """Discard the partitions' windows and pending acks: the next owner replays them."""
        gone = set(partitions)
        for p in gone:
            self._assigned.discard(p)
            dropped = self.windows.drop_partition(p)
            if dropped:
                log.info("partition %d revoked: %d open spans left for the next owner to replay", p, dropped)
        for pos in [pos for pos in self._handles if pos[1] in gone]:
            del self._handles[pos]

    # ---- release and output -------------------------------------------------------------
    async def tick(self, now: float) -> int:
        """Release due traces and emit them; returns how many were released."""
        released = self.windows.release_due(now)
        if released:
            await self.emit(released, now)
        self.producer.poll()
        if self.metrics is not None:
            self.metrics.open_traces.set(self.windows.open_traces)
            self.metrics.open_spans.set(self.windows.open_spans)
        return len(released)

    async def emit(self, released: Sequence[Released], now: float) -> None:
        """Emit released traces; replay suspects are first reconciled with the trace index."""
        extra: dict[str, list[dict[str, str]]] = {}
        if self.propagation is not None:
            extra = self.propagation.check([s for rel in released for s in rel.spans])
        suspects = [r for r in released if r.replay_suspect]
        self._produce_all([(rel, extra.get(rel.trace_id)) for rel in released if not rel.replay_suspect])
        if not suspects:
            return
        priors = await self._lookup([r.trace_id for r in suspects])
        resolved_all: list[tuple[Released, list[dict[str, str]] | None]] = []
        for rel in suspects:
            if rel.partition not in self._assigned:
                continue  # revoked while we looked: the next owner replays it
            resolved = self.windows.resolve_replay(rel, priors.get(rel.trace_id), now)
            if resolved is None:
                self._settle(rel.positions)
            else:
                resolved_all.append((resolved, extra.get(rel.trace_id)))
        self._produce_all(resolved_all)

    async def _lookup(self, trace_ids: list[str]) -> dict[str, PriorTrace]:
        if self.index is None:
            return {}
        if time.monotonic() < self._lookups_paused_until:
            self.stats.replay_lookup_failures += len(trace_ids)
            return {}
        self.stats.replay_lookups += len(trace_ids)
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(self.index.get_many, trace_ids), self.lookup_timeout_s
            )
        except Exception as exc:  # Redis down or slow: emit as new; consumers dedupe on (trace_id, revision)
            self.stats.replay_lookup_failures += len(trace_ids)
            # Do not make every tick wait for a dead Redis: skip lookups for a while.
            self._lookups_paused_until = time.monotonic() + LOOKUP_PAUSE_S
            log.warning(
                "trace index lookup failed (%r): for %.0f s replayed traces go out unreconciled",
                exc,
                LOOKUP_PAUSE_S,
            )
            return {}
        priors: dict[str, PriorTrace] = {}
        for trace_id, rec in found.items():
            try:
                priors[trace_id] = prior_from_record(rec)
            except (RecordError, KeyError, TypeError, ValueError) as exc:  # a corrupt index entry
                log.warning("ignoring unreadable index entry for %s: %s", trace_id, exc)
        return priors

    def _produce_all(self, releases: Sequence[tuple[Released, list[dict[str, str]] | None]]) -> None:
        """Assemble and produce traces (with their extra diagnostics) under one ack group."""
        if not releases:
            return
        emitted = _Emitted(self, time.monotonic(), [(RELEASED_AT_HEADER, str(self.wall_ns()).encode())])
        group = self.producer.group([emitted])
        for rel, extra in releases:
            self._produce(rel, extra, emitted, group)
        # One links record per target partition per release, not one per link: each record is
        # a faust event (~120 µs) on the consuming side.
        for partition, values in emitted.links.items():
            self._produce_links(values, partition, group)
        group.seal()
        if self.metrics is not None:  # faust's sensor does not see this producer's records
            self.metrics.records_out.inc(len(emitted.traces) + len(emitted.links))

    def _produce_links(self, values: list[dict[str, Any]], partition: int, group: Any) -> None:
        """One links record, as halves while librdkafka finds it too large (a release with
        thousands of links to one partition); an entry too large alone goes without its attributes."""

        def send(entries: Sequence[dict[str, Any]]) -> None:
            self.producer.produce(self.topic_links, encode_links(entries), partition=partition, group=group)

        for entry in produce_in_halves(values, send):
            log.warning("link from trace %s: attributes left out (message.max.bytes)", entry["from_trace_id"])
            send([{**entry, "attributes": {}}])

    def _produce(
        self, rel: Released, extra: list[dict[str, str]] | None, emitted: _Emitted, group: Any
    ) -> None:
        record = assemble_trace(
            rel.trace_id,
            rel.spans,
            options=self.assembly,
            revision=rel.revision,
            reason=rel.reason,
            complete=rel.complete,
            linked_from=rel.linked_from,
            extra_diagnostics=[*rel.diagnostics, *extra] if extra else rel.diagnostics,
        )
        outgoing = outgoing_links(record)
        encoded = encode_record(record)
        key = rel.trace_id.encode()
        try:
            self.producer.produce(self.topic_traces, encoded, key=key, headers=emitted.headers, group=group)
        except KafkaException as exc:
            if not too_large(exc):
                raise
            # Too large for one record (thousands of spans): send what fits, flagged, rather
            # than crash on it at every replay. Its inputs are acked with it.
            log.warning("trace %s: %d-byte record truncated (message.max.bytes)", rel.trace_id, len(encoded))
            self.stats.truncated += 1
            encoded = truncate_record(record, len(encoded), self.max_record_bytes)
            self.producer.produce(self.topic_traces, encoded, key=key, headers=emitted.headers, group=group)
        for target, value in outgoing:
            emitted.links.setdefault(self.partition_for(target), []).append(value)
        write = index_write(record, encoded) if self.index is not None else None
        emitted.traces.append((rel, len(record["spans"]), write))
        self.stats.links_out += len(outgoing)

    def _delivered(self, done: _Emitted) -> None:
        n_spans = 0
        latency = time.monotonic() - done.produced_at
        writes: list[IndexWrite] = []
        for rel, spans, write in done.traces:
            n_spans += spans
            if self.release_latency is not None:
                self.release_latency.observe(latency)
            self._settle(rel.positions)
            if write is not None:
                writes.append(write)
        if writes and self.index is not None:  # only then (step 3 of the module docstring)
            self.index.put_many(writes)
        self.stats.traces_out += len(done.traces)
        self.stats.spans_out += n_spans
        if self.metrics is not None:
            self.metrics.spans_out.inc(n_spans)

    def _settle(self, positions: Iterable[Position]) -> None:
        for pos in self.windows.settle(positions):
            handle = self._handles.pop(pos, None)
            if handle is not None:
                self.ack(handle)

    # ---- shutdown -----------------------------------------------------------------------
    async def release_all_and_flush(self, now: float, timeout_s: float) -> bool:
        """Emit every open window (reason shutdown) and wait for delivery; True if all delivered.

        Only for a worker that no other will replace (the demo, the last worker): otherwise
        leaving windows open is better, since their uncommitted inputs are replayed whole by
        the next owner instead of being emitted now as incomplete revision-1 traces.
        """
        await self.emit(self.windows.release_all(now), now)
        return self.flush(timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait for outstanding deliveries (their callbacks ack inputs); True if none remain."""
        return self.producer.flush(timeout_s) == 0

    @property
    def pending_acks(self) -> int:
        return len(self._handles)
