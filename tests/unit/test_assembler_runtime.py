"""The assembler runtime with an in-memory producer: what is emitted, and when inputs are acked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from confluent_kafka import KafkaError, KafkaException

from pipeline.adapters.assembler_records import parse_link_record
from pipeline.adapters.assembler_runtime import AssemblerRuntime
from pipeline.adapters.kafka.acking_producer import AckingProducer
from pipeline.domain.assembly import AssemblyOptions, assemble_trace
from pipeline.domain.codec import encode_bundle
from pipeline.domain.propagation_rules import LOST_CONTEXT_SUSPECTED, PropagationWatch
from pipeline.domain.span import Span, SpanKind, SpanLink
from pipeline.domain.trace_index import InMemoryTraceIndex
from pipeline.domain.windows import TraceWindows, WindowOptions
from pipeline.errors import RecordError
from pipeline.testing.schemas import validator

T1 = "1" * 32
T2 = "2" * 32
T9 = "9" * 32


class _Msg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class MemoryProducer:
    """confluent-kafka's Producer surface in memory: records wait until poll() 'delivers' them."""

    def __init__(self, fail_first: int = 0, max_bytes: int | None = None) -> None:
        self.pending: list[tuple[str, bytes, bytes, dict[str, Any], Callable[..., None]]] = []
        self.delivered: list[tuple[str, bytes, bytes, dict[str, Any]]] = []
        self.fail_first = fail_first
        self.max_bytes = max_bytes  # larger values are refused at once, as librdkafka does

    def produce(self, topic: str, value: bytes, key: bytes, **kw: Any) -> None:
        if self.max_bytes is not None and len(value) > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        cb = kw.pop("on_delivery")
        self.pending.append((topic, value, key, kw, cb))

    def poll(self, timeout: float = 0) -> int:
        pending, self.pending = self.pending, []
        for topic, value, key, kw, cb in pending:
            if self.fail_first:
                self.fail_first -= 1
                cb("broker down", _Msg(topic))
            else:
                self.delivered.append((topic, value, key, kw))
                cb(None, _Msg(topic))
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        while self.pending:
            self.poll()
        return 0


def span(trace_id: str, n: int, links: list[SpanLink] | None = None) -> Span:
    return Span(trace_id, f"{n:016x}", f"op{n}", 1_000, 2_000, "svc", links=links or [])


def runtime(
    producer: MemoryProducer,
    index: InMemoryTraceIndex | None = None,
    propagation: PropagationWatch | None = None,
) -> tuple[AssemblerRuntime, list[Any], list[Any]]:
    acked: list[Any] = []
    dead: list[Any] = []

    def dead_letter(pos: Any, value: Any, key: Any, exc: RecordError, handle: Any) -> None:
        dead.append((pos, exc.reason))
        acked.append(handle)

    rt = AssemblerRuntime(
        windows=TraceWindows(WindowOptions(idle_timeout_s=1.0, replay_suspect_s=10.0)),
        producer=AckingProducer(producer),  # type: ignore[arg-type]
        ack=acked.append,
        dead_letter=dead_letter,
        partition_for=lambda trace_id: int(trace_id[0], 16) % 4,
        topic_traces="traces",
        topic_links="links",
        assembly=AssemblyOptions(),
        index=index,
        propagation=propagation,
    )
    return rt, acked, dead


def tick(rt: AssemblerRuntime, now: float) -> int:
    return asyncio.run(rt.tick(now))


def test_bundle_is_acked_only_after_all_its_traces_are_delivered() -> None:
    """A bundle with spans of two traces is acked once both traces' records are delivered, not before."""
    producer = MemoryProducer()
    rt, acked, _ = runtime(producer)
    rt.add_bundle(("spans", 0, 4), encode_bundle([span(T1, 1), span(T2, 1)]), None, "event-4", now=0.0)
    rt.add_bundle(("spans", 0, 5), encode_bundle([span(T2, 2)]), None, "event-5", now=0.5)
    producer.poll = lambda timeout=0: 0  # type: ignore[method-assign]  # hold deliveries for now
    assert tick(rt, 1.0) == 1
    assert acked == [] and len(producer.pending) == 1
    MemoryProducer.poll(producer)
    assert acked == []  # T2 still open: event-4 holds a span of it
    assert tick(rt, 1.5) == 1
    MemoryProducer.poll(producer)
    assert sorted(acked) == ["event-4", "event-5"]
    records = [orjson.loads(v) for t, v, _, _ in producer.delivered if t == "traces"]
    assert [(r["trace_id"], r["revision"], len(r["spans"])) for r in records] == [(T1, 1, 1), (T2, 1, 2)]
    assert [k for t, _, k, _ in producer.delivered] == [T1.encode(), T2.encode()]


def test_outgoing_links_are_sent_to_the_target_partition_and_gate_the_ack() -> None:
    """Links to other traces travel as one links record per target partition per release."""
    producer = MemoryProducer()
    rt, acked, _ = runtime(producer)
    t5 = "5" * 32  # 5 % 4 == 9 % 4: shares T9's partition
    links_out = [SpanLink(T9, "a" * 16, {"k": "v"}), SpanLink(T2, "b" * 16), SpanLink(t5, "c" * 16)]
    consumer_span = span(T1, 1, links=links_out)
    rt.add_bundle(("spans", 1, 0), encode_bundle([consumer_span]), None, "ev", now=0.0)
    tick(rt, 1.0)
    records = [(orjson.loads(v), kw["partition"]) for t, v, _, kw in producer.delivered if t == "links"]
    assert sorted(len(entries) for entries, _ in records) == [1, 2]
    links = [(entry, p) for entries, p in records for entry in entries]
    assert sorted((v["trace_id"], v["span_id"], p) for v, p in links) == [
        (T2, "b" * 16, 2),
        (t5, "c" * 16, 1),
        (T9, "a" * 16, 1),
    ]
    assert {v["from_trace_id"] for v, _ in links} == {T1}
    assert next(v for v, _ in links if v["trace_id"] == T9)["attributes"] == {"k": "v"}
    assert acked == ["ev"]


def test_failed_delivery_never_acks_the_input() -> None:
    """A trace whose output delivery failed leaves its input unacked (replayed after the restart)."""
    producer = MemoryProducer(fail_first=1)
    rt, acked, _ = runtime(producer)
    rt.add_bundle(("spans", 0, 0), encode_bundle([span(T1, 1)]), None, "ev", now=0.0)
    tick(rt, 1.0)
    producer.flush()
    assert acked == [] and rt.stats.traces_out == 0 and rt.pending_acks == 1


def test_bad_bundle_goes_to_dead_letter_and_is_acked() -> None:
    """A record that is not a bundle is dead-lettered with its reason and acked at once."""
    producer = MemoryProducer()
    rt, acked, dead = runtime(producer)
    rt.add_bundle(("spans", 0, 3), b"{not json", None, "bad", now=0.0)
    assert dead == [(("spans", 0, 3), "decode_error")] and acked == ["bad"]


def test_replayed_tail_already_in_index_is_suppressed() -> None:
    """After an assignment, a replayed trace whose spans the index already holds is acked, not emitted."""
    producer = MemoryProducer()
    index = InMemoryTraceIndex()
    index.put(assemble_trace(T1, [span(T1, 1), span(T1, 2)]))
    rt, acked, _ = runtime(producer, index)
    rt.assign([0], now=0.0)
    rt.add_bundle(("spans", 0, 9), encode_bundle([span(T1, 2)]), None, "replayed", now=0.0)
    tick(rt, 1.0)
    producer.poll()
    assert producer.delivered == [] and acked == ["replayed"]


def test_replayed_trace_with_new_spans_becomes_next_revision() -> None:
    """A replayed window with spans the index lacks is emitted as prior revision + 1 with all spans."""
    producer = MemoryProducer()
    index = InMemoryTraceIndex()
    index.put(assemble_trace(T1, [span(T1, 1)], revision=2, reason="late_update"))
    rt, _, _ = runtime(producer, index)
    rt.assign([0], now=0.0)
    rt.add_bundle(("spans", 0, 9), encode_bundle([span(T1, 1), span(T1, 3)]), None, "e", now=0.0)
    tick(rt, 1.0)
    producer.poll()
    (record,) = [orjson.loads(v) for t, v, _, _ in producer.delivered if t == "traces"]
    assert (record["revision"], record["reason"], len(record["spans"])) == (3, "late_update", 2)
    stored = index.get(T1)
    assert stored is not None and stored["revision"] == 3


def test_revoked_partition_is_never_acked_or_emitted() -> None:
    """Revoking a partition drops its windows and handles; nothing of it is emitted or acked."""
    producer = MemoryProducer()
    rt, acked, _ = runtime(producer)
    rt.assign([0, 1], now=0.0)
    rt.add_bundle(("spans", 1, 0), encode_bundle([span(T1, 1)]), None, "e", now=0.0)
    rt.revoke([1])
    tick(rt, 5.0)
    producer.poll()
    assert producer.delivered == [] and acked == [] and rt.pending_acks == 0


def test_link_record_validation_names_the_field() -> None:
    """A link record with a malformed id is a RecordError naming that entry and id."""
    good = {"trace_id": T1, "span_id": "a" * 16, "from_trace_id": T2, "from_span_id": "b" * 16}
    (one,) = parse_link_record(orjson.dumps(good))  # a single object, as earlier versions wrote
    assert one.from_trace_id == T2
    both = parse_link_record(orjson.dumps([good, {**good, "trace_id": T9}]))
    assert [ln.trace_id for ln in both] == [T1, T9]
    cases = (
        ({**good, "span_id": "xyz"}, "link.span_id"),
        ([good, {**good, "from_span_id": "q"}], "links[1].from_span_id"),
        (b"[1]", "links[0]"),
        (b'"text"', None),
    )
    for bad, name in cases:
        try:
            parse_link_record(bad if isinstance(bad, bytes) else orjson.dumps(bad))
        except RecordError as exc:
            assert name is None or name in str(exc)
        else:
            raise AssertionError("expected a RecordError")


class FailingIndex(InMemoryTraceIndex):
    """An index whose reads fail, like Redis being down."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_many(self, trace_ids: Any) -> dict[str, dict[str, Any]]:
        self.reads += 1
        raise ConnectionError("redis down")


def test_failed_index_lookup_emits_unreconciled_and_pauses_lookups() -> None:
    """With the index unreadable, replay suspects are emitted as they are and later ticks skip the lookup."""
    producer = MemoryProducer()
    index = FailingIndex()
    rt, acked, _ = runtime(producer, index)
    rt.assign([0], now=0.0)
    rt.add_bundle(("spans", 0, 0), encode_bundle([span(T1, 1)]), None, "a", now=0.0)
    tick(rt, 1.0)
    rt.add_bundle(("spans", 0, 1), encode_bundle([span(T2, 1)]), None, "b", now=1.0)
    tick(rt, 2.0)
    producer.poll()
    assert index.reads == 1
    assert sorted(acked) == ["a", "b"] and rt.stats.traces_out == 2
    assert rt.stats.replay_lookup_failures == 2


def test_release_all_and_flush_emits_open_windows_with_reason_shutdown() -> None:
    """At a final shutdown, open traces are emitted (reason shutdown) and their inputs acked on delivery."""
    producer = MemoryProducer()
    rt, acked, _ = runtime(producer)
    rt.add_bundle(("spans", 0, 0), encode_bundle([span(T1, 1), span(T2, 1)]), None, "ev", now=0.0)
    assert asyncio.run(rt.release_all_and_flush(0.1, timeout_s=5.0))
    records = [orjson.loads(v) for t, v, _, _ in producer.delivered if t == "traces"]
    assert sorted((r["trace_id"], r["reason"]) for r in records) == [(T1, "shutdown"), (T2, "shutdown")]
    assert acked == ["ev"]


def _lost_context_pair() -> list[Span]:
    """checkout's trace T1 calls payments without passing its context; payments starts trace T2."""
    ms = 1_000_000
    t0 = 1_700_000_000_000_000_000

    def sp(trace: str, sid: str, kind: SpanKind, window_ms: tuple[int, int], service: str, **kw: Any) -> Span:
        resource = {"service.name": service, "host.name": f"{service}-0"}
        start, end = (t0 + t * ms for t in window_ms)
        return Span(trace, sid * 16, sid, start, end, service, kind=kind, resource=resource, **kw)

    call = {"parent_span_id": "1" * 16, "attributes": {"peer.service": "payments"}}
    return [
        sp(T1, "1", "SERVER", (0, 100), "checkout"),
        sp(T1, "2", "CLIENT", (10, 60), "checkout", **call),  # unanswered: no child in T1
        sp(T2, "3", "SERVER", (15, 55), "payments"),  # a root inside the call: lost context
    ]


def _diagnostic_codes(producer: MemoryProducer) -> dict[str, list[tuple[str, str]]]:
    records = [orjson.loads(v) for t, v, _, _ in producer.delivered if t == "traces"]
    return {r["trace_id"]: [(d["code"], d["span_id"]) for d in r["diagnostics"]] for r in records}


def test_lost_context_pair_released_in_one_tick_is_flagged() -> None:
    """A SERVER root called by another trace's unanswered CLIENT span, released in the same tick, gets
    LOST_CONTEXT_SUSPECTED; its caller's trace does not."""
    producer = MemoryProducer()
    rt, acked, _ = runtime(producer, propagation=PropagationWatch())
    rt.add_bundle(("spans", 0, 0), encode_bundle(_lost_context_pair()), None, "ev", now=0.0)
    assert tick(rt, 1.0) == 2
    producer.poll()
    codes = _diagnostic_codes(producer)
    assert (LOST_CONTEXT_SUSPECTED, "3" * 16) in codes[T2]
    assert all(code != LOST_CONTEXT_SUSPECTED for code, _ in codes[T1])
    assert acked == ["ev"]


def test_without_propagation_watch_no_cross_trace_diagnostic() -> None:
    """The same pair assembled without a watch has no LOST_CONTEXT_SUSPECTED (the watch adds it)."""
    producer = MemoryProducer()
    rt, _, _ = runtime(producer)
    rt.add_bundle(("spans", 0, 0), encode_bundle(_lost_context_pair()), None, "ev", now=0.0)
    tick(rt, 1.0)
    producer.poll()
    codes = _diagnostic_codes(producer)
    assert set(codes) == {T1, T2}
    assert all(code != LOST_CONTEXT_SUSPECTED for diags in codes.values() for code, _ in diags)


def test_a_trace_too_large_for_one_record_is_truncated_in_tree_order_and_acked() -> None:
    """A 300-span trace of ~270 kB against a 60 kB message.max.bytes: the record that goes out
    fits, keeps a prefix of the spans in tree order, says complete=false and TRACE_TRUNCATED
    with the counts, and its input is acked (no crash, no replay loop)."""
    producer = MemoryProducer(max_bytes=60_000)
    rt, acked, _ = runtime(producer)
    rt.max_record_bytes = 60_000
    root = span(T1, 1)
    fat = {"db.statement": "x" * 800}
    replace = msgspec.structs.replace
    spans = [root, *(
        replace(span(T1, n), parent_span_id=root.span_id, attributes=fat) for n in range(2, 301)
    )]
    rt.add_bundle(("spans", 0, 1), encode_bundle(spans), None, "event-1", now=0.0)
    assert tick(rt, 1.0) == 1
    producer.flush()
    ((_, value, _, _),) = [d for d in producer.delivered if d[0] == "traces"]
    record = orjson.loads(value)
    assert len(value) <= 60_000 and record["complete"] is False
    validator("assembled_trace.v1").validate(record)
    full = assemble_trace(T1, spans)
    kept = [s["span_id"] for s in record["spans"]]
    assert 10 < len(kept) < 300 and kept == [s["span_id"] for s in full["spans"]][: len(kept)]
    (diagnostic,) = [d for d in record["diagnostics"] if d["code"] == "TRACE_TRUNCATED"]
    assert f"first {len(kept)} of 300 spans" in diagnostic["message"]
    assert record["summary"]["span_count"] == 300
    assert acked == ["event-1"] and rt.stats.truncated == 1


def test_links_records_over_message_max_bytes_are_split() -> None:
    """A batch consumer span linking to 100 traces of one partition, with 500-byte link attributes:
    the links go out in several records under the limit, each link exactly once."""
    producer = MemoryProducer(max_bytes=20_000)
    rt, acked, _ = runtime(producer)
    rt.max_record_bytes = 20_000
    targets = [f"{4 * k + 1:032x}"[-32:] for k in range(100)]  # all on one partition of 4
    assert len({rt.partition_for(t) for t in targets}) == 1
    batch = span(T1, 1, links=[SpanLink(t, "a" * 16, {"msg": "m" * 500}) for t in targets])
    rt.add_bundle(("spans", 1, 0), encode_bundle([batch]), None, "ev", now=0.0)
    tick(rt, 1.0)
    producer.flush()
    values = [v for t, v, _, _ in producer.delivered if t == "links"]
    assert len(values) > 1 and all(len(v) <= 20_000 for v in values)
    entries = [entry for v in values for entry in orjson.loads(v)]
    assert sorted(e["trace_id"] for e in entries) == sorted(targets)
    assert acked == ["ev"]
