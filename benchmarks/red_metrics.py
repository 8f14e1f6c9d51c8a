"""RED metrics and SLO replay benchmark.

Figures, all from one run on the embedded broker (or OBSPIPE_KAFKA_BOOTSTRAP):
1. red-metrics throughput: spans per CPU-second of a real `obspipe worker red-metrics` process
   (CPU from /proc) over bundles of 500 spans on obspipe.spans-by-trace, until every span is
   counted in a metrics.red record. Baselines, same data, same run, one process each:
   a bare confluent-kafka consume loop (consume + `decode_bundle`), and the same loop doing
   red-metrics' work without faust (+ aggregate + produce the records). Acceptance: >= 80k
   spans/s per core.
2. `obspipe slo replay` over 30 days of per-minute buckets for 10 SLOs (432,000 lines, 432,000
   evaluations), as a subprocess: wall and CPU time; baseline: reading and `orjson.loads` of the
   same lines plus `orjson.dumps` of one status-sized dict per line. Acceptance: < 10 s.

Run: .venv/bin/python benchmarks/red_metrics.py [--spans 300000]  (about a minute)
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.adapters.infra import ensure_kafka  # noqa: E402
from pipeline.adapters.kafka.config import consumer_config, producer_config  # noqa: E402
from pipeline.adapters.kafka.topics import create_topics  # noqa: E402
from pipeline.domain.codec import decode_bundle, encode_bundle  # noqa: E402
from pipeline.domain.red.aggregate import RedAggregator  # noqa: E402
from pipeline.domain.span import Span  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.testing.bench import process_cpu_s  # noqa: E402
from pipeline.testing.workers import WorkerProcess  # noqa: E402

PARTITIONS = 4
BUNDLE = 500
S = 1_000_000_000
T_MAIN = 1_700_000_000 * S
T_WARM = T_MAIN - 3600 * S
GC_GEN0_THRESHOLD = 50_000  # as stream_apps/common.py::tune_gc
SERVICES = [f"svc{i}" for i in range(10)]
OPERATIONS = [f"op{i}" for i in range(5)]
KINDS = ("SERVER", "CLIENT")


def make_bundles(n_spans: int, start_ns: int, seconds: int, seed: int) -> list[bytes]:
    """Bundles of 500 spans, in event-time order, over `seconds` from `start_ns`; 100 series."""
    rng = random.Random(seed)
    spans = []
    step = seconds * S // n_spans
    for i in range(n_spans):
        end = start_ns + i * step
        spans.append(Span(
            uuid.UUID(int=rng.getrandbits(128)).hex, f"{rng.getrandbits(64):016x}", rng.choice(OPERATIONS),
            end - rng.randint(100_000, 900_000_000), end, rng.choice(SERVICES),
            kind=rng.choice(KINDS), status_code="ERROR" if rng.random() < 0.02 else "OK",  # type: ignore[arg-type]
        ))
    return [encode_bundle(spans[i : i + BUNDLE]) for i in range(0, len(spans), BUNDLE)]


def produce_all(bootstrap: str, settings: Settings, topic: str, bundles: list[bytes]) -> None:
    producer = Producer(producer_config(settings, bootstrap))
    for i, value in enumerate(bundles):
        producer.produce(topic, value, partition=i % PARTITIONS)
        producer.poll(0)
    assert producer.flush(120) == 0


def reader(bootstrap: str, settings: Settings, topic: str) -> Consumer:
    consumer = Consumer(
        consumer_config(settings, f"bench-{uuid.uuid4().hex[:8]}", bootstrap, enable_auto_commit=False)
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


def counted_spans(consumer: Consumer, since_ns: int, want: int, timeout: float) -> None:
    """Read metrics.red until the records of windows from `since_ns` on count `want` requests."""
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            if msg.error() is None:
                doc = orjson.loads(msg.value())
                if doc["window_start_unix_nano"] >= since_ns:
                    seen += doc["requests"]
        if seen >= want:
            return
    raise TimeoutError(f"only {seen} of {want} spans counted after {timeout}s")


def bare_loop(bootstrap: str, settings: Settings, topic: str, n_spans: int, *, aggregate: bool) -> float:
    """consume + decode (+ aggregate + produce) in one process; returns CPU seconds."""
    consumer = reader(bootstrap, settings, topic)
    producer = Producer(producer_config(settings, bootstrap))
    aggregators: dict[int, RedAggregator[int]] = {}
    gc.collect()
    gc.freeze()
    seen = 0
    cpu0 = time.process_time()
    while seen < n_spans:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if msg.error() is not None:
                continue
            spans = decode_bundle(msg.value())
            seen += len(spans)
            if aggregate:
                agg = aggregators.get(msg.partition())
                if agg is None:
                    agg = aggregators[msg.partition()] = RedAggregator(10, 10)
                for window in agg.add_bundle(spans, msg.offset()).windows:
                    for key, record in window.records:
                        producer.produce(settings.topic_red + "-bare", orjson.dumps(record), key.encode())
                producer.poll(0)
    if aggregate:
        for agg in aggregators.values():
            for key, record in agg.flush().records:
                producer.produce(settings.topic_red + "-bare", orjson.dumps(record), key.encode())
        producer.flush(60)
    cpu = time.process_time() - cpu0
    gc.unfreeze()
    consumer.close()
    return cpu


def bench_red(bootstrap: str, n_spans: int, tmp: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        kafka_bootstrap=bootstrap, topic_partitions=PARTITIONS, run_dir=tmp / "run",
        topic_spans_by_trace=f"bench-spans-{suffix}", topic_red=f"bench-red-{suffix}",
        topic_dlq=f"bench-dlq-{suffix}", worker_group_prefix=f"bench-{suffix}", red_idle_flush_s=5.0,
    )
    create_topics(settings)
    bundles = make_bundles(n_spans, T_MAIN, 120, seed=1)
    produce_all(bootstrap, settings, settings.topic_spans_by_trace, bundles)
    bare = bare_loop(bootstrap, settings, settings.topic_spans_by_trace, n_spans, aggregate=False)
    same_work = bare_loop(bootstrap, settings, settings.topic_spans_by_trace, n_spans, aggregate=True)

    # The worker: a fresh topic with a warm-up bundle first, so start-up is not measured.
    settings = settings.model_copy(update={"topic_spans_by_trace": f"bench-spans2-{suffix}",
                                           "topic_red": f"bench-red2-{suffix}"})
    create_topics(settings)
    worker = WorkerProcess("red-metrics", settings, tmp / "red-metrics.log").start()
    try:
        out = reader(bootstrap, settings, settings.topic_red)
        warm = make_bundles(BUNDLE * PARTITIONS, T_WARM, 5, seed=2)
        produce_all(bootstrap, settings, settings.topic_spans_by_trace, warm)
        counted_spans(out, T_WARM, BUNDLE * PARTITIONS, timeout=240)
        cpu0 = process_cpu_s(worker.pid)
        wall0 = time.perf_counter()
        produce_all(bootstrap, settings, settings.topic_spans_by_trace, bundles)
        counted_spans(out, T_MAIN, n_spans, timeout=120)
        wall = time.perf_counter() - wall0
        cpu = process_cpu_s(worker.pid) - cpu0
        out.close()
    finally:
        worker.stop()
    rows = [
        ("bare loop: consume + decode_bundle (baseline)", bare),
        ("plain loop: + aggregate + produce, no faust (baseline)", same_work),
        ("red-metrics worker (faust, acks on delivery)", cpu),
    ]
    print(f"\n1. red-metrics, {n_spans:,} spans in bundles of {BUNDLE}, {PARTITIONS} partitions, 100 series")
    print(f"   {'':58} {'CPU s':>7} {'spans/s per core':>17} {'vs bare':>8}")
    for name, seconds in rows:
        print(f"   {name:58} {seconds:7.2f} {n_spans / seconds:17,.0f} {bare / seconds:7.2f}x")
    print(f"   worker wall time {wall:.1f} s (includes the 5 s idle flush of the last windows)")
    print(f"   acceptance >= 80,000 spans/s per core: {'PASS' if n_spans / cpu >= 80_000 else 'FAIL'}")


def bench_replay(tmp: Path) -> None:
    slos = tmp / "slos.yaml"
    slos.write_text("slos:\n" + "".join(f"  - {{name: slo{i}, objective: 99.9}}\n" for i in range(10)))
    rng = random.Random(3)
    minute0 = T_MAIN // (60 * S)
    lines = []
    for m in range(30 * 1440):
        for i in range(10):
            bad = 0 if rng.random() < 0.98 else rng.randint(1, 50)
            lines.append(orjson.dumps({"slo": f"slo{i}", "time_unix_nano": (minute0 + m) * 60 * S,
                                       "good": 1000 - bad, "total": 1000}))
    events = tmp / "buckets.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")

    cpu0 = time.process_time()
    status = {"schema": "slo_status/v1", "slo": "slo0", "objective": 99.9, "period": "30d",
              "evaluated_at_unix_nano": T_MAIN, "burn_rates": dict.fromkeys(("5m", "30m", "1h", "2h"), 0.5),
              "budget_remaining": 0.5, "policy_tier": "normal", "firing": []}
    with open(events, "rb") as f:
        sink = 0
        for line in f:
            orjson.loads(line)
            sink += len(orjson.dumps(status))
    base_cpu = time.process_time() - cpu0

    obspipe = str(Path(sys.executable).with_name("obspipe"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    with open(events, "rb") as stdin:
        result = subprocess.run([obspipe, "slo", "replay", "--slos", str(slos), "-"], stdin=stdin,
                                stdout=subprocess.PIPE, check=True)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    n_out = result.stdout.count(b"\n")
    print(f"\n2. obspipe slo replay: 30 days x 10 SLOs = {len(lines):,} buckets, {n_out:,} statuses")
    print(f"   baseline (read + orjson.loads each line + dumps a status) CPU {base_cpu:6.2f} s")
    print(f"   obspipe slo replay (subprocess, incl. start-up)         CPU {cpu:6.2f} s, wall {wall:.2f} s"
          f"  ({cpu / base_cpu:.1f}x baseline)")
    print(f"   acceptance < 10 s: {'PASS' if wall < 10 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=300_000)
    args = parser.parse_args()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    with tempfile.TemporaryDirectory(prefix="obspipe-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        base = load_settings(run_dir=tmp / "run")
        bootstrap, broker = ensure_kafka(base)
        try:
            bench_red(bootstrap, args.spans, tmp)
        finally:
            if broker is not None:
                broker.stop()
        bench_replay(tmp)


if __name__ == "__main__":
    main()
