"""red-metrics and slo-burn workers (real subprocesses) on the real broker and Redis, each killed
with kill -9 mid-stream and restarted: no window counted twice, no spent budget forgotten."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.adapters.redis.slo_store import RedisSloStore
from pipeline.domain.codec import encode_bundle
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.span import Span
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

PARTITIONS = 2
DEADLINE_S = 150.0  # two cores shared by many test runs; a faust worker needs ~5-20 s to join
S = 1_000_000_000
MINUTE = 60 * S
T0 = 28_333_340 * MINUTE  # a whole minute, hence a whole 10 s window


def span(end_ns: int, duration_ms: int, error: bool = False) -> Span:
    return Span(
        uuid.uuid4().hex, uuid.uuid4().hex[:16], "GET /pay", end_ns - duration_ms * 1_000_000, end_ns,
        "checkout", kind="SERVER", status_code="ERROR" if error else "OK",
    )


def produce_bundles(kafka: KafkaTestClient, topic: str, spans: list[Span]) -> None:
    by_partition: dict[int, list[Span]] = {}
    for s in spans:
        by_partition.setdefault(partition_for_trace(s.trace_id, PARTITIONS), []).append(s)
    for partition, group in by_partition.items():
        kafka.produce(topic, [encode_bundle(group)], partition=partition)


def deduped_totals(records: list[Record]) -> dict[int, tuple[int, int]]:
    """window start -> (requests, errors) summed over sources, keeping per (key, source) the largest."""
    best: dict[tuple[bytes, str], dict[str, Any]] = {}
    for rec in records:
        assert rec.key is not None and rec.value is not None
        doc = orjson.loads(rec.value)
        slot = (rec.key, doc["source"])
        if slot not in best or doc["requests"] > best[slot]["requests"]:
            best[slot] = doc
    out: dict[int, tuple[int, int]] = {}
    for doc in best.values():
        requests, errors = out.get(doc["window_start_unix_nano"], (0, 0))
        out[doc["window_start_unix_nano"]] = (requests + doc["requests"], errors + doc["errors"])
    return out


@pytest.fixture
def settings(obspipe_settings: Callable[..., Settings], redis_url: str, tmp_path: Path) -> Settings:
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(
        "slos:\n"
        "  - name: checkout-availability\n"
        "    objective: 99.9\n"
        "    sli: {spans: {type: error_ratio, service: checkout, operation: GET /pay}}\n"
    )
    s = obspipe_settings(
        redis_url=redis_url,
        topic_partitions=PARTITIONS,
        red_window_s=10,
        red_allowed_lateness_s=5,
        red_idle_flush_s=2.0,
        slo_file=slo_file,
        slo_state_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    create_topics(s)
    return s


def test_red_metrics_counts_every_window_once_across_a_kill_9(
    kafka: KafkaTestClient, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Windows of 30 (3 errors), 20 and 10 spans come out with exactly those counts, the worker
    having been killed with SIGKILL after the first two and restarted (replays dedupe by key+source)."""
    s = settings
    worker = start_worker("red-metrics", s)
    first = [span(T0 + (i * 300 + 100) * 1_000_000, 1 + i, error=i < 3) for i in range(30)]
    second = [span(T0 + 10 * S + i * 400_000_000, 50) for i in range(20)]
    produce_bundles(kafka, s.topic_spans_by_trace, first + second)

    def windows_seen(want: set[int]) -> Callable[[list[Record]], bool]:
        return lambda rs: want <= set(deduped_totals(rs))

    kafka.consume_until(s.topic_red, windows_seen({T0, T0 + 10 * S}), timeout=DEADLINE_S)
    worker.kill()
    third = [span(T0 + 20 * S + i * 900_000_000, 5) for i in range(10)]
    produce_bundles(kafka, s.topic_spans_by_trace, third)
    restarted = start_worker("red-metrics", s)
    records = kafka.consume_until(
        s.topic_red, windows_seen({T0, T0 + 10 * S, T0 + 20 * S}), timeout=DEADLINE_S, settle=3.0
    )
    totals = deduped_totals(records)
    assert totals == {T0: (30, 3), T0 + 10 * S: (20, 0), T0 + 20 * S: (10, 0)}, restarted.log_tail()
    docs = [orjson.loads(r.value or b"") for r in records]
    assert all(d["schema"] == "red_metrics/v1" and d["window_s"] == 10 for d in docs)
    assert records[0].key is not None and records[0].key.decode().startswith("checkout|GET /pay|SERVER|")
    # Per source the sketch travels along; a window from one source has its exact max duration.
    assert max(d["duration_ms"]["max"] for d in docs if d["window_start_unix_nano"] == T0) == 30.0


def red_record(minute: int, source: str, requests: int, errors: int) -> bytes:
    return orjson.dumps({
        "schema": "red_metrics/v1", "service": "checkout", "operation": "GET /pay", "kind": "SERVER",
        "window_start_unix_nano": T0 + minute * MINUTE, "window_s": 10, "requests": requests,
        "errors": errors, "duration_ms": {}, "sketch": None, "source": source,
    })


def minute_records(minutes: range, bad_minute: int) -> list[bytes]:
    """10,000 requests a minute from two sources; 1,000 errors in `bad_minute`."""
    out = []
    for m in minutes:
        for source in ("p0", "p1"):
            out.append(red_record(m, source, 5000, 500 if m == bad_minute else 0))
    return out


def statuses(records: list[Record]) -> dict[int, dict[str, Any]]:
    return {d["evaluated_at_unix_nano"]: d for d in (orjson.loads(r.value or b"") for r in records)}


def test_slo_burn_pages_and_resolves_across_a_kill_9_without_double_counting(
    kafka: KafkaTestClient, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """1,000 bad of 10,000 in minute 3 pages (1 h and 5 m burn 25 > 14.4); after kill -9, a restart and
    the same records again, minute 8's status counts 90,000 events once and the page has resolved
    with its original startsAt."""
    s = settings
    worker = start_worker("slo-burn", s)
    kafka.produce(s.topic_red, minute_records(range(5), bad_minute=3))
    kafka.produce(s.topic_red, [b"{not json"])
    end_of = lambda m: T0 + (m + 1) * MINUTE  # noqa: E731
    seen = kafka.consume_until(s.topic_slo_status, lambda rs: end_of(3) in statuses(rs), timeout=DEADLINE_S)
    at_3 = statuses(seen)[end_of(3)]
    assert at_3["burn_rates"]["5m"] == pytest.approx(25.0) and "page_1h_5m" in at_3["firing"]
    worker.kill()
    restarted = start_worker("slo-burn", s)
    # A replaying red-metrics would send the same windows again; then time moves on.
    kafka.produce(s.topic_red, minute_records(range(10), bad_minute=3))
    seen = kafka.consume_until(s.topic_slo_status, lambda rs: end_of(8) in statuses(rs), timeout=DEADLINE_S)
    at_8 = statuses(seen)[end_of(8)]
    assert (at_8["period_total"], at_8["period_good"]) == (90_000, 89_000), restarted.log_tail()
    assert at_8["budget_remaining"] == pytest.approx(1 - 1000 / 90)  # 90 bad allowed
    # Every window holds minutes 0..8: burn 1000/90 = 11.1: above 6, 3 and 1, below 14.4.
    assert at_8["policy_tier"] == "exhausted"
    assert at_8["firing"] == ["page_6h_30m", "ticket_3d_6h", "ticket_24h_2h"]
    alerts = kafka.consume_until(
        s.topic_alerts_raw,
        lambda rs: any(orjson.loads(r.value or b"")["status"] == "resolved" for r in rs),
        timeout=DEADLINE_S,
    )
    pages = [orjson.loads(r.value or b"") for r in alerts]
    pages = [a for a in pages if a["labels"]["window"] == "page_1h_5m"]
    assert {a["startsAt"] for a in pages} == {"2023-11-14T22:24:00.000Z"}  # end of minute 3
    # The 1 h burn rate is 100 / (m + 1): 14.29 at minute 6, no longer above 14.4.
    resolved = [a for a in pages if a["status"] == "resolved"]
    assert resolved and resolved[0]["endsAt"] == "2023-11-14T22:27:00.000Z"  # end of minute 6
    dlq = kafka.consume_until(s.topic_dlq, lambda rs: len(rs) >= 1, timeout=DEADLINE_S)
    assert orjson.loads(dlq[0].value or b"")["reason"] == "decode_error"
    stored = RedisSloStore.from_url(s.redis_url or "", prefix=s.slo_state_prefix).statuses()
    assert stored["checkout-availability"]["evaluated_at_unix_nano"] >= end_of(8)


def test_metric_sli_from_otlp_metrics_and_slo_status_command(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings], redis_url: str, tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """Cumulative counters on otlp_metrics feed a metric SLI: increases 1000 (2xx) of 1010 in minute 1
    give a burn rate of 10/1010/0.01 = 0.99; `obspipe slo status` then shows the SLO; a bad record goes
    to the DLQ."""
    slo_file = tmp_path / "metric-slos.yaml"
    slo_file.write_text(
        "slos:\n"
        "  - name: api-availability\n"
        "    objective: 99\n"
        "    sli:\n"
        "      metrics:\n"
        "        good: {name: http_requests_total, matchers: ['code=~\"2..\"']}\n"
        "        total: {name: http_requests_total}\n"
    )
    s = obspipe_settings(redis_url=redis_url, topic_partitions=PARTITIONS, slo_file=slo_file,
                         slo_state_prefix=f"test-{uuid.uuid4().hex[:8]}")
    create_topics(s)
    start_worker("slo-burn", s)

    def sample(code: str, value: int, minute: int) -> dict[str, Any]:
        return {"name": "http_requests_total", "labels": {"code": code}, "value": value, "kind": "counter",
                "time_unix_nano": T0 + minute * MINUTE + 30 * S}

    # Minute 0 sets the base; minute 1 adds 1000 ok and 10 errors; minute 2 moves event time on.
    batches = [[sample("200", 5000, 0), sample("500", 40, 0)], [sample("200", 6000, 1), sample("500", 50, 1)],
               [sample("200", 6000, 2), sample("500", 50, 2)]]
    kafka.produce(s.topic_metrics_in, [orjson.dumps(b) for b in batches])
    kafka.produce(s.topic_metrics_in, [orjson.dumps({"name": "x", "value": "NaN"})])
    end_1 = T0 + 2 * MINUTE
    seen = kafka.consume_until(s.topic_slo_status, lambda rs: end_1 in statuses(rs), timeout=DEADLINE_S)
    status = statuses(seen)[end_1]
    assert (status["period_good"], status["period_total"]) == (1000, 1010)
    assert status["burn_rates"]["5m"] == pytest.approx(10 / 1010 / 0.01)
    dlq = kafka.consume_until(s.topic_dlq, lambda rs: len(rs) >= 1, timeout=DEADLINE_S)
    assert orjson.loads(dlq[0].value or b"")["reason"] == "validation_error"
    env = {**os.environ, "OBSPIPE_REDIS_URL": redis_url, "OBSPIPE_SLO_STATE_PREFIX": s.slo_state_prefix,
           "COLUMNS": "200"}
    obspipe = str(Path(sys.executable).with_name("obspipe"))
    deadline = time.monotonic() + DEADLINE_S
    while True:  # the state is saved once the status is delivered: wait for it
        shown = subprocess.run([obspipe, "slo", "status", "--json"], env=env, capture_output=True,
                               timeout=60, check=True).stdout
        if shown.strip():
            break
        assert time.monotonic() < deadline, "obspipe slo status never showed the SLO"
        time.sleep(0.2)
    assert orjson.loads(shown.splitlines()[0])["slo"] == "api-availability"
    table = subprocess.run([obspipe, "slo", "status"], env=env, capture_output=True, timeout=60, check=True)
    assert b"api-availability" in table.stdout and b"99% / 30d" in table.stdout


def test_two_slo_burn_workers_split_the_slos_and_count_everything(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings], redis_url: str, tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """With two workers in the group, each SLO minute is evaluated by its owner (a repeat after a
    rebalance must be identical), and counts the records consumed by both workers: 10,000 events a
    minute, 1,000 bad in minute 3."""
    slo_file = tmp_path / "four-slos.yaml"
    slo_file.write_text("slos:\n" + "".join(
        f"  - {{name: slo{i}, objective: 99.9, sli: {{spans: {{type: error_ratio, service: checkout}}}}}}\n"
        for i in range(4)
    ))
    s = obspipe_settings(redis_url=redis_url, topic_partitions=PARTITIONS, slo_file=slo_file,
                         slo_state_prefix=f"test-{uuid.uuid4().hex[:8]}")
    create_topics(s)
    first = start_worker("slo-burn", s, loglevel="info")
    second = start_worker("slo-burn", s, loglevel="info")
    for worker in (first, second):  # both in the group before any input: each owns one partition
        worker.wait_for_log("slo-burn: evaluating [", timeout=DEADLINE_S)
    records = minute_records(range(12), bad_minute=3)
    for i, record in enumerate(records):  # both partitions carry every minute
        kafka.produce(s.topic_red, [record], partition=i % PARTITIONS)
    end = T0 + 11 * MINUTE

    def all_final(rs: list[Record]) -> bool:
        return sum(orjson.loads(r.value or b"")["evaluated_at_unix_nano"] == end for r in rs) >= 4

    seen = kafka.consume_until(s.topic_slo_status, all_final, timeout=DEADLINE_S, settle=3.0)
    docs = [orjson.loads(r.value or b"") for r in seen]
    by_minute: dict[tuple[str, int], dict[str, Any]] = {}
    for d in docs:
        earlier = by_minute.setdefault((d["slo"], d["evaluated_at_unix_nano"]), d)
        assert earlier == d, "an SLO minute was evaluated twice with different results"
    assert len(by_minute) == 4 * 11
    for d in docs:
        minutes = (d["evaluated_at_unix_nano"] - T0) // MINUTE
        assert d["period_total"] == 10_000 * minutes, (d, first.log_tail(), second.log_tail())
        assert d["period_total"] - d["period_good"] == (1000 if minutes > 3 else 0)


def test_spans_to_red_metrics_to_slo_burn_chain(
    kafka: KafkaTestClient, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Spans through both real apps: 20 good spans in minute 0 and 20 with 5 errors in minute 1 give
    minute 1's status 40 events, 35 good, burn rate 5/40/0.001 = 125 over 5 m."""
    s = settings
    start_worker("red-metrics", s)
    start_worker("slo-burn", s)
    spans = [span(T0 + i * 2 * S, 10) for i in range(20)]
    spans += [span(T0 + MINUTE + i * 2 * S, 10, error=i < 5) for i in range(20)]
    produce_bundles(kafka, s.topic_spans_by_trace, spans)

    def minute_1_out(rs: list[Record]) -> bool:
        totals = deduped_totals(rs)
        return sum(n for start, (n, _) in totals.items() if T0 + MINUTE <= start < T0 + 2 * MINUTE) == 20

    # Only once minute 1 is all out of red-metrics does event time move on (deterministic test).
    kafka.consume_until(s.topic_red, minute_1_out, timeout=DEADLINE_S)
    produce_bundles(kafka, s.topic_spans_by_trace, [span(T0 + 2 * MINUTE + i * S, 10) for i in range(5)])
    end_1 = T0 + 2 * MINUTE
    seen = kafka.consume_until(s.topic_slo_status, lambda rs: end_1 in statuses(rs), timeout=DEADLINE_S)
    status = statuses(seen)[end_1]
    assert (status["period_total"], status["period_good"]) == (40, 35)
    assert status["burn_rates"]["5m"] == pytest.approx(125.0)
    assert "page_1h_5m" in status["firing"]
