"""span-ingest on the real broker: OTLP and obspipe records in, bundles by trace out, bad ones to the DLQ."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable

import msgspec
import orjson
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.domain.codec import BUNDLE_CONTENT_TYPE, decode_bundle, encode_spans, span_to_dict
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.span import Span
from pipeline.domain.synthetic import SyntheticTraces
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.otlp import otlp_request_bytes
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

PARTITIONS = 4
BUNDLE_MAX = 50


def _spans_in(records: list[Record]) -> list[tuple[Record, Span]]:
    return [(r, s) for r in records for s in decode_bundle(r.value or b"")]


def _span_count(records: list[Record]) -> int:
    return sum(len(decode_bundle(r.value or b"")) for r in records)


@pytest.fixture
def ingest_settings(obspipe_settings: Callable[..., Settings]) -> Settings:
    settings = obspipe_settings(topic_partitions=PARTITIONS, bundle_max_spans=BUNDLE_MAX)
    create_topics(settings)
    return settings


def test_collector_and_obspipe_records_become_bundles_partitioned_by_trace(
    ingest_settings: Settings, kafka: KafkaTestClient, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Every span of OTLP protobuf and obspipe JSON records arrives once, in bundles of at most
    bundle_max_spans, on the partition obspipe's partitioner picks for its trace."""
    s = ingest_settings
    source = SyntheticTraces(seed=7)
    traces = [source.trace(8) for _ in range(60)]
    # Spread each trace over several records and formats: spans 0-3 of every trace travel in
    # OTLP protobuf requests (as the Collector batches them), spans 4-7 as obspipe JSON.
    otlp_spans = [span for trace in traces for span in trace[:4]]
    json_spans = [span for trace in traces for span in trace[4:]]
    proto_records = [otlp_request_bytes(otlp_spans[i : i + 40]) for i in range(0, len(otlp_spans), 40)]
    kafka.produce(s.topic_spans_in, proto_records[::2], headers=[("content-type", b"application/x-protobuf")])
    kafka.produce(s.topic_spans_in, proto_records[1::2])  # no header: detected from the bytes
    arrays = [encode_spans(json_spans[i : i + 25]) for i in range(0, len(json_spans) - 10, 25)]
    singles = [orjson.dumps(span_to_dict(span)) for span in json_spans[len(arrays) * 25 :]]
    kafka.produce(s.topic_spans_in, arrays + singles, headers=[("content-type", b"application/json")])

    start_worker("span-ingest", s)
    expected = {span.span_id: span for trace in traces for span in trace}
    records = kafka.consume_until(
        s.topic_spans_by_trace, lambda rs: _span_count(rs) >= len(expected), timeout=180
    )

    pairs = _spans_in(records)
    assert Counter(span.span_id for _, span in pairs) == Counter(list(expected))  # none lost, none doubled
    assert all(span == expected[span.span_id] for _, span in pairs)
    for record in records:
        bundle = decode_bundle(record.value or b"")
        assert 1 <= len(bundle) <= BUNDLE_MAX
        assert {partition_for_trace(span.trace_id, PARTITIONS) for span in bundle} == {record.partition}
        assert record.header("content-type") == BUNDLE_CONTENT_TYPE
    partitions_of_trace: dict[str, set[int]] = {}
    for record, span in pairs:
        partitions_of_trace.setdefault(span.trace_id, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in partitions_of_trace.values())
    assert len({p for parts in partitions_of_trace.values() for p in parts}) == PARTITIONS
    # bundles, not one record per span or per input record
    assert len(records) < len(expected) / 4


def test_malformed_records_go_to_the_dlq_and_the_worker_keeps_going(
    ingest_settings: Settings, kafka: KafkaTestClient, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Undecodable and invalid records become dead letters with reason, origin, key and raw
    bytes, and the valid records before and after them are still ingested."""
    s = ingest_settings
    good_before, good_after = SyntheticTraces(seed=1).trace(5), SyntheticTraces(seed=2).trace(5)
    bad_span = {**span_to_dict(good_before[0]), "trace_id": "not-a-trace-id"}
    bad_values = [
        b"\x00\x01 definitely not a span",
        orjson.dumps(bad_span),
        b"\x0a\x05\x0a\x03\xff\xff",  # truncated protobuf, declared as such
    ]
    kafka.produce(s.topic_spans_in, [encode_spans(good_before)], partition=0)
    kafka.produce(s.topic_spans_in, bad_values[:2], key=b"bad-key", partition=0)
    kafka.produce(
        s.topic_spans_in,
        bad_values[2:],
        key=b"bad-key",
        partition=0,
        headers=[("content-type", b"application/x-protobuf")],
    )
    kafka.produce(s.topic_spans_in, [otlp_request_bytes(good_after)], partition=0)

    start_worker("span-ingest", s)
    dead = kafka.consume_until(s.topic_dlq, lambda rs: len(rs) >= 3, timeout=180)
    wanted = {span.span_id for span in good_before + good_after}
    out = kafka.consume_until(
        s.topic_spans_by_trace, lambda rs: {sp.span_id for _, sp in _spans_in(rs)} >= wanted, timeout=120
    )
    assert {span.span_id for _, span in _spans_in(out)} == wanted

    inputs = kafka.consume_until(s.topic_spans_in, lambda rs: len(rs) >= 5, timeout=60)
    offset_of = {r.value: r.offset for r in inputs}
    letters = sorted((orjson.loads(r.value or b"") for r in dead), key=lambda d: d["source"]["offset"])
    assert len(letters) == 3
    assert all(r.key == b"bad-key" for r in dead)
    for letter, value in zip(letters, bad_values, strict=True):
        offset = offset_of[value]
        assert letter["source"] == {"topic": s.topic_spans_in, "partition": 0, "offset": offset}
        assert letter["origin"] == f"{s.topic_spans_in}[0]@{offset}"
        assert base64.b64decode(letter["value_b64"]) == value
        assert letter["schema"] == "dead_letter/v1" and letter["error"]
    assert letters[0]["reason"] == "decode_error"
    assert letters[1]["reason"] == "validation_error"
    assert "trace_id" in letters[1]["error"]
    assert letters[2]["reason"] == "decode_error"


def _one_span_records(seed: int, traces: int) -> tuple[list[bytes], set[str]]:
    source = SyntheticTraces(seed=seed)
    spans = [span for _ in range(traces) for span in source.trace(4)]
    return [encode_spans(spans[i : i + 4]) for i in range(0, len(spans), 4)], {s.span_id for s in spans}


def test_graceful_restart_resumes_from_the_committed_offsets(
    ingest_settings: Settings, kafka: KafkaTestClient, start_worker: Callable[..., WorkerProcess]
) -> None:
    """A worker stopped with SIGTERM commits what it delivered: its successor ingests only new records."""
    s = ingest_settings
    first, first_ids = _one_span_records(seed=11, traces=30)
    kafka.produce(s.topic_spans_in, first)
    worker = start_worker("span-ingest", s)
    kafka.consume_until(s.topic_spans_by_trace, lambda rs: _span_count(rs) >= len(first_ids), timeout=180)
    assert worker.stop(timeout=60) == 0, worker.log_tail()

    second, second_ids = _one_span_records(seed=12, traces=30)
    kafka.produce(s.topic_spans_in, second)
    start_worker("span-ingest", s)
    records = kafka.consume_until(
        s.topic_spans_by_trace,
        lambda rs: {sp.span_id for _, sp in _spans_in(rs)} >= first_ids | second_ids,
        timeout=180,
        settle=3.0,
    )
    seen = Counter(span.span_id for _, span in _spans_in(records))
    assert set(seen) == first_ids | second_ids
    assert max(seen.values()) == 1, "records before the graceful stop were ingested twice"


def test_kill_9_mid_stream_loses_no_span(
    ingest_settings: Settings, kafka: KafkaTestClient, start_worker: Callable[..., WorkerProcess]
) -> None:
    """After a worker is SIGKILLed mid-stream, its successor replays from the last commit: every span
    arrives at least once (duplicates allowed, losses not)."""
    s = ingest_settings
    values, ids = _one_span_records(seed=21, traces=1500)
    assert len(ids) == 6000
    kafka.produce(s.topic_spans_in, values)
    victim = start_worker("span-ingest", s)
    kafka.consume_until(s.topic_spans_by_trace, lambda rs: _span_count(rs) >= 200, timeout=180)
    victim.kill()
    start_worker("span-ingest", s)
    records = kafka.consume_until(
        s.topic_spans_by_trace, lambda rs: {sp.span_id for _, sp in _spans_in(rs)} >= ids, timeout=240
    )
    assert {span.span_id for _, span in _spans_in(records)} == ids


def test_second_worker_joins_mid_stream_without_losing_spans(
    ingest_settings: Settings, kafka: KafkaTestClient, start_worker: Callable[..., WorkerProcess]
) -> None:
    """When a second worker joins (a rebalance with held acks), both keep running and every span
    arrives at least once."""
    s = ingest_settings
    first, first_ids = _one_span_records(seed=31, traces=300)
    second, second_ids = _one_span_records(seed=32, traces=300)
    one = start_worker("span-ingest", s)
    kafka.produce(s.topic_spans_in, first)
    kafka.consume_until(s.topic_spans_by_trace, lambda rs: _span_count(rs) >= 100, timeout=180)
    two = start_worker("span-ingest", s, loglevel="info")
    two.wait_for_log("Worker ready", timeout=120)  # the group has rebalanced over both workers
    kafka.produce(s.topic_spans_in, second)
    records = kafka.consume_until(
        s.topic_spans_by_trace,
        lambda rs: {sp.span_id for _, sp in _spans_in(rs)} >= first_ids | second_ids,
        timeout=240,
    )
    assert {span.span_id for _, span in _spans_in(records)} == first_ids | second_ids
    assert one.alive() and two.alive(), one.log_tail() + two.log_tail()


def test_worker_refuses_an_output_topic_with_another_partition_count(
    obspipe_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    """A span-ingest worker whose OBSPIPE_TOPIC_PARTITIONS disagrees with the bundles topic exits
    non-zero and says why, instead of routing spans to partitions that do not exist."""
    created = obspipe_settings(topic_partitions=2)
    create_topics(created)
    worker = start_worker("span-ingest", created.model_copy(update={"topic_partitions": 4}))
    assert worker.process is not None
    code = worker.process.wait(timeout=120)
    assert code != 0
    assert "has 2 partitions but OBSPIPE_TOPIC_PARTITIONS is 4" in worker.log_tail(20_000)


def test_bundles_over_message_max_bytes_are_split_and_a_span_too_large_alone_is_dead_lettered(
    obspipe_settings: Callable[..., Settings],
    kafka: KafkaTestClient,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """With the producers' message.max.bytes at 100 kB, 200 spans of ~4 kB bound for one partition
    arrive whole, in bundles under the limit; a 130 kB span dead-letters its record (limit_exceeded,
    without the value, which would not fit) while that record's other span goes on."""
    s = obspipe_settings(topic_partitions=1, bundle_max_spans=500, kafka_message_max_bytes=100_000)
    create_topics(s)
    source = SyntheticTraces(seed=41)
    fat = [
        msgspec.structs.replace(span, attributes={**span.attributes, "db.statement": "x" * 4_000})
        for _ in range(50)
        for span in source.trace(4)
    ]
    huge_trace = source.trace(2)
    huge = msgspec.structs.replace(
        huge_trace[1], attributes={f"blob.{i}": "y" * 16_000 for i in range(8)}
    )
    records = [encode_spans(fat[i : i + 20]) for i in range(0, len(fat), 20)]
    kafka.produce(s.topic_spans_in, [*records, encode_spans([huge_trace[0], huge])], key=b"k", partition=0)

    start_worker("span-ingest", s)
    wanted = {span.span_id for span in fat} | {huge_trace[0].span_id}
    out = kafka.consume_until(
        s.topic_spans_by_trace, lambda rs: {sp.span_id for _, sp in _spans_in(rs)} >= wanted, timeout=180
    )
    dead = kafka.consume_until(s.topic_dlq, lambda rs: len(rs) >= 1, timeout=60)
    assert {span.span_id for _, span in _spans_in(out)} == wanted  # all but the huge span
    assert all(len(r.value or b"") <= 100_000 for r in out)
    assert len(out) >= 8  # 800 kB of spans cannot travel in fewer records of <= 100 kB
    (letter,) = [orjson.loads(r.value or b"") for r in dead]
    assert letter["reason"] == "limit_exceeded" and letter["value_b64"] is None
    assert huge.span_id in letter["error"] and "left out" in letter["error"]
    assert letter["origin"] == f"{s.topic_spans_in}[0]@{len(records)}"
