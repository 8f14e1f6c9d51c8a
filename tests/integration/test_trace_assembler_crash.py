"""kill -9 of one of two trace-assembler workers mid-stream: every trace still comes out whole.

At-least-once (DESIGN.md §4): inputs are committed only after their traces are delivered, so
the partitions of the killed worker are replayed by the survivor. Zero spans may be lost, and
duplicates may only be whole `(trace_id, revision)` records (same spans as the first copy).
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.domain.codec import encode_bundle
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.span import Span
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

PARTITIONS = 4
N_TRACES = 240
ASSIGNED = re.compile(r"assigned partitions \[\d")


def make_traces(rng: random.Random) -> list[list[Span]]:
    traces = []
    for _ in range(N_TRACES):
        trace_id = uuid.uuid4().hex
        start = 1_700_000_000_000_000_000 + rng.randrange(10**9)
        root = Span(
            trace_id, uuid.uuid4().hex[:16], "GET /", start, start + 50_000_000, "edge", kind="SERVER"
        )
        kids = [
            Span(
                trace_id,
                uuid.uuid4().hex[:16],
                f"call{i}",
                start + i * 1000,
                start + i * 1000 + 10_000,
                f"svc{i % 3}",
                parent_span_id=root.span_id,
            )
            for i in range(rng.randint(3, 7))
        ]
        traces.append([root, *kids])
    return traces


def stream_spans(kafka: KafkaTestClient, topic: str, traces: list[list[Span]], stop: threading.Event) -> None:
    """Every 100 ms, one bundle per partition; a trace gets one span per tick (4-8 records each)."""
    producer = kafka.producer
    pending: list[list[Span]] = []
    queue = list(traces)
    while (queue or pending) and not stop.is_set():
        for _ in range(2):  # 2 new traces start per tick: the feed lasts ~15 s
            if queue:
                pending.append(list(queue.pop()))
        tick: dict[int, list[Span]] = {}
        still: list[list[Span]] = []
        for spans in pending:
            span = spans[0]
            tick.setdefault(partition_for_trace(span.trace_id, PARTITIONS), []).append(span)
            if spans[1:]:
                still.append(spans[1:])
        pending = still
        for partition, bundle in tick.items():
            producer.produce(topic, encode_bundle(bundle), partition=partition)
        producer.poll(0)
        time.sleep(0.1)
    assert producer.flush(60) == 0


def wait_for_log(worker: WorkerProcess, pattern: re.Pattern[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pattern.search(worker.log_tail(1_000_000)):
            return
        assert worker.alive(), worker.log_tail()
        time.sleep(0.2)
    raise AssertionError(f"{worker.name} never got partitions:\n{worker.log_tail()}")


def test_kill_9_of_one_worker_loses_no_span(
    kafka: KafkaTestClient, obspipe_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """After SIGKILL of one of two workers mid-stream, every trace's latest revision holds all its spans."""
    settings: Settings = obspipe_settings(
        redis_url=redis_url,
        topic_partitions=PARTITIONS,
        idle_timeout_s=1.5,
        max_trace_age_s=10.0,
        worker_group_prefix=f"crash-{uuid.uuid4().hex[:8]}",
        trace_index_prefix=f"crash-{uuid.uuid4().hex[:8]}",
    )
    create_topics(settings)
    traces = make_traces(random.Random(7))
    expected = {t[0].trace_id: {s.span_id for s in t} for t in traces}
    victim = WorkerProcess("trace-assembler", settings, tmp_path / "victim.log", loglevel="info").start()
    survivor = WorkerProcess("trace-assembler", settings, tmp_path / "survivor.log", loglevel="info").start()
    stop = threading.Event()
    feeder = threading.Thread(target=stream_spans, args=(kafka, settings.topic_spans_by_trace, traces, stop))
    try:
        wait_for_log(victim, ASSIGNED, 120)
        wait_for_log(survivor, ASSIGNED, 120)
        feeder.start()
        # Mid-stream: some traces are out, many spans are still to come.
        kafka.consume_until(settings.topic_traces, lambda rs: len(rs) >= N_TRACES // 5, timeout=180)
        assert feeder.is_alive(), "the feed ended before the kill; the test would prove nothing"
        victim.kill()
        feeder.join(120)

        def complete(records: list[Record]) -> bool:
            best: dict[str, tuple[int, int]] = {}
            for rec in records:
                doc = orjson.loads(rec.value or b"{}")
                if doc["revision"] >= best.get(doc["trace_id"], (0, 0))[0]:
                    best[doc["trace_id"]] = (doc["revision"], len(doc["spans"]))
            return all(best.get(t, (0, 0))[1] == len(ids) for t, ids in expected.items())

        records = kafka.consume_until(settings.topic_traces, complete, timeout=240, settle=3.0)
    finally:
        stop.set()
        victim.stop()
        survivor.stop()
    copies: dict[tuple[str, int], list[set[str]]] = {}
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        doc = orjson.loads(rec.value or b"{}")
        copies.setdefault((doc["trace_id"], doc["revision"]), []).append({s["span_id"] for s in doc["spans"]})
        if doc["revision"] >= latest.get(doc["trace_id"], {"revision": 0})["revision"]:
            latest[doc["trace_id"]] = doc
    # The survivor took over every partition after the kill (so replay was exercised).
    took_over = re.search(r"assigned partitions \[0, 1, 2, 3\]", survivor.log_tail(10_000_000))
    assert took_over, survivor.log_tail()
    assert set(latest) == set(expected)
    for trace_id, ids in expected.items():
        assert {s["span_id"] for s in latest[trace_id]["spans"]} == ids, trace_id
    partial = {key: sets for key, sets in copies.items() if any(s != sets[0] for s in sets)}
    assert not partial, f"duplicates that are not whole records: {list(partial)[:5]}"
