"""trace-assembler workers (real subprocesses) on the real broker and Redis: assembly across
records and partitions, links, late revisions, and Redis going away mid-stream."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.adapters.redis.embedded import EmbeddedRedis
from pipeline.adapters.redis.trace_index import RedisTraceIndex
from pipeline.domain.codec import encode_bundle, span_to_dict
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.span import Span, SpanLink
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.otlp import otlp_request_bytes
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

PARTITIONS = 4
# Generous: two cores shared by many test runs; a faust worker needs ~5-20 s to join.
DEADLINE_S = 150.0


def new_id(n: int = 32) -> str:
    return uuid.uuid4().hex[:n] if n <= 32 else uuid.uuid4().hex


def make_trace(n_spans: int, service: str = "svc", start: int = 1_700_000_000_000_000_000) -> list[Span]:
    """A root SERVER span with n-1 children, each child on its own service."""
    trace_id = new_id()
    root = Span(trace_id, new_id(16), "GET /", start, start + 10_000_000, service, kind="SERVER")
    kids = [
        Span(
            trace_id,
            new_id(16),
            f"work{i}",
            start + i * 1_000,
            start + i * 1_000 + 500_000,
            f"{service}-{i}",
            parent_span_id=root.span_id,
        )
        for i in range(1, n_spans)
    ]
    return [root, *kids]


def produce_bundles(kafka: KafkaTestClient, topic: str, spans: list[Span]) -> None:
    """Bundles as span-ingest writes them: per partition of obspipe's partitioner, one record each."""
    by_partition: dict[int, list[Span]] = {}
    for span in spans:
        by_partition.setdefault(partition_for_trace(span.trace_id, PARTITIONS), []).append(span)
    for partition, group in by_partition.items():
        kafka.produce(topic, [encode_bundle(group)], partition=partition)


def traces_of(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        assert rec.value is not None
        doc = orjson.loads(rec.value)
        out.setdefault(doc["trace_id"], []).append(doc)
    return out


def latest(records: list[dict[str, Any]]) -> dict[str, Any]:
    return max(records, key=lambda r: r["revision"])


@pytest.fixture
def assembler_settings(obspipe_settings: Callable[..., Settings], redis_url: str) -> Settings:
    settings = obspipe_settings(
        redis_url=redis_url,
        topic_partitions=PARTITIONS,
        idle_timeout_s=1.5,
        max_trace_age_s=15.0,
        worker_group_prefix=f"test-{new_id(8)}",
        trace_index_prefix=f"test-{new_id(8)}",
    )
    create_topics(settings)
    return settings


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(name: str, settings: Settings) -> WorkerProcess:
        worker = WorkerProcess(name, settings, tmp_path / f"{name}-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_spans_spread_over_records_and_partitions_become_one_trace(
    kafka: KafkaTestClient, assembler_settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    """Spans of one trace in OTLP and JSON records on three otlp_spans partitions come out as one trace."""
    s = assembler_settings
    workers("span-ingest", s)
    assembler = workers("trace-assembler", s)
    spans = make_trace(6)
    trace_id = spans[0].trace_id
    # Three records on three different partitions of the input topic, two spans each.
    # OTLP protobuf as the Collector's kafka exporter writes it on partitions 0 and 2, and
    # obspipe span JSON on partition 1.
    proto = [("content-type", b"application/x-protobuf")]
    kafka.produce(s.topic_spans_in, [otlp_request_bytes(spans[0:2])], partition=0, headers=proto)
    kafka.produce(s.topic_spans_in, [orjson.dumps([span_to_dict(x) for x in spans[2:4]])], partition=1)
    kafka.produce(s.topic_spans_in, [otlp_request_bytes(spans[4:6])], partition=2, headers=proto)
    records = kafka.consume_until(s.topic_traces, lambda rs: len(rs) >= 1, timeout=DEADLINE_S, settle=3.0)
    by_trace = traces_of(records)
    assert list(by_trace) == [trace_id], assembler.log_tail()
    (doc,) = by_trace[trace_id]
    assert (doc["revision"], doc["reason"], doc["complete"]) == (1, "idle", True)
    assert sorted(sp["span_id"] for sp in doc["spans"]) == sorted(x.span_id for x in spans)
    assert records[0].key == trace_id.encode()
    assert doc["roots"] == [spans[0].span_id]


def test_batch_consumer_links_reach_all_100_producer_traces(
    kafka: KafkaTestClient, assembler_settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    """A consumer span linking to 100 producer traces gives each of them a linked_from entry."""
    s = assembler_settings
    workers("trace-assembler", s)
    producers = [
        Span(new_id(), new_id(16), "publish", 1_000, 2_000, "producer-svc", kind="PRODUCER")
        for _ in range(100)
    ]
    batch = Span(new_id(), new_id(16), "process batch", 5_000, 9_000, "consumer-svc", kind="CONSUMER",
                 links=[SpanLink(p.trace_id, p.span_id) for p in producers])  # fmt: skip
    produce_bundles(kafka, s.topic_spans_by_trace, [*producers, batch])
    wanted = {p.trace_id: p.span_id for p in producers}

    def all_linked(records: list[Record]) -> bool:
        by_trace = traces_of(records)
        return all(
            any(
                {"trace_id": batch.trace_id, "span_id": batch.span_id, "linked_span_id": span_id}
                in r["linked_from"]
                for r in by_trace.get(trace_id, ())
            )
            for trace_id, span_id in wanted.items()
        )

    records = kafka.consume_until(s.topic_traces, all_linked, timeout=DEADLINE_S)
    by_trace = traces_of(records)
    consumer_doc = latest(by_trace[batch.trace_id])
    assert len(consumer_doc["links"]) == 100
    assert all(not link["resolved"] for link in consumer_doc["links"])
    # A producer released before its link arrived gets the link as a later revision.
    for trace_id in wanted:
        assert {r["reason"] for r in by_trace[trace_id]} <= {"idle", "links_update"}
    index = RedisTraceIndex.from_url(s.redis_url or "", prefix=s.trace_index_prefix)
    some_producer = next(iter(wanted))
    assert {
        "trace_id": batch.trace_id,
        "span_id": batch.span_id,
        "linked_span_id": wanted[some_producer],
    } in (index.links_to(some_producer))


def test_late_span_yields_revision_2_with_the_whole_trace(
    kafka: KafkaTestClient, assembler_settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    """A span arriving after its trace was emitted produces revision 2 (late_update) with every span."""
    s = assembler_settings
    workers("trace-assembler", s)
    spans = make_trace(4)
    trace_id = spans[0].trace_id
    produce_bundles(kafka, s.topic_spans_by_trace, spans[:3])
    kafka.consume_until(s.topic_traces, lambda rs: trace_id in traces_of(rs), timeout=DEADLINE_S)
    produce_bundles(kafka, s.topic_spans_by_trace, spans[3:])
    records = kafka.consume_until(
        s.topic_traces,
        lambda rs: any(r["revision"] == 2 for r in traces_of(rs).get(trace_id, ())),
        timeout=DEADLINE_S,
    )
    revs = {r["revision"]: r for r in traces_of(records)[trace_id]}
    assert len(revs[1]["spans"]) == 3
    assert (revs[2]["reason"], len(revs[2]["spans"]), revs[2]["complete"]) == ("late_update", 4, True)
    index = RedisTraceIndex.from_url(s.redis_url or "", prefix=s.trace_index_prefix)
    deadline = time.monotonic() + 30
    while (stored := index.get(trace_id)) is None or stored["revision"] < 2:
        assert time.monotonic() < deadline, "the index never got revision 2"
        time.sleep(0.1)


def test_traces_are_still_emitted_when_redis_stops_mid_stream(
    kafka: KafkaTestClient,
    obspipe_settings: Callable[..., Settings],
    workers: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    """With the index's Redis stopped mid-stream, assembled traces keep arriving on traces.assembled."""
    redis = EmbeddedRedis(data_dir=tmp_path / "own-redis").start()
    try:
        s = obspipe_settings(
            redis_url=redis.get_connection_url(),
            topic_partitions=PARTITIONS,
            idle_timeout_s=1.0,
            worker_group_prefix=f"test-{new_id(8)}",
        )
        create_topics(s)
        assembler = workers("trace-assembler", s)
        before = [make_trace(3) for _ in range(5)]
        produce_bundles(kafka, s.topic_spans_by_trace, [x for t in before for x in t])
        first_ids = {t[0].trace_id for t in before}
        kafka.consume_until(s.topic_traces, lambda rs: first_ids <= set(traces_of(rs)), timeout=DEADLINE_S)
        redis.stop()
        after = [make_trace(3) for _ in range(5)]
        produce_bundles(kafka, s.topic_spans_by_trace, [x for t in after for x in t])
        wanted = first_ids | {t[0].trace_id for t in after}
        records = kafka.consume_until(
            s.topic_traces, lambda rs: wanted <= set(traces_of(rs)), timeout=DEADLINE_S
        )
        assert assembler.alive(), assembler.log_tail()
        assert all(len(latest(docs)["spans"]) == 3 for docs in traces_of(records).values())
    finally:
        redis.stop()


def test_malformed_bundle_and_link_go_to_the_dead_letter_topic(
    kafka: KafkaTestClient, assembler_settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    """A corrupt bundle and a bad link record are dead-lettered with reason and origin; assembly goes on."""
    s = assembler_settings
    assembler = workers("trace-assembler", s)
    kafka.produce(s.topic_spans_by_trace, [b"\x00not a bundle"], key=b"k1", partition=1)
    bad_link = {"trace_id": "zz", "span_id": "a" * 16, "from_trace_id": new_id(), "from_span_id": "b" * 16}
    kafka.produce(s.topic_links, [orjson.dumps(bad_link)], key=b"k2", partition=2)
    spans = make_trace(2)
    produce_bundles(kafka, s.topic_spans_by_trace, spans)
    dead = kafka.consume_until(s.topic_dlq, lambda rs: len(rs) >= 2, timeout=DEADLINE_S)
    letters = sorted((orjson.loads(r.value or b"{}") for r in dead), key=lambda d: d["source"]["topic"])
    assert [(d["source"]["topic"], d["source"]["partition"], d["source"]["offset"]) for d in letters] == [
        (s.topic_links, 2, 0),
        (s.topic_spans_by_trace, 1, 0),
    ]
    assert letters[0]["reason"] == "validation_error" and "link.trace_id" in letters[0]["error"]
    assert letters[1]["reason"] == "decode_error"
    assert {r.key for r in dead} == {b"k1", b"k2"}
    kafka.consume_until(s.topic_traces, lambda rs: spans[0].trace_id in traces_of(rs), timeout=DEADLINE_S)
    assert assembler.alive(), assembler.log_tail()
