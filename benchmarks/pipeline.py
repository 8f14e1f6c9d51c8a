"""End-to-end pipeline benchmark: otlp_spans -> span-ingest -> trace-assembler -> traces.assembled.

Figures, all from one run on the embedded broker (or OBSPIPE_KAFKA_BOOTSTRAP):
1. throughput: spans per CPU-second of the two obspipe worker processes (real subprocesses,
   `obspipe worker ...`, CPU from /proc), over OTLP protobuf batches of 100-500 spans;
   baseline, same data, same run: a plain confluent-kafka loop in one process that consumes
   the batches, decodes them, groups spans by trace, assembles and produces one record per
   trace (what the pipeline does, minus faust, windows, repartitioning and acks). The ratio
   is the figure (acceptance: >= 0.4x and >= 50k spans/s per core);
2. latency from a trace's release (the `obspipe-released-at` header, wall clock) to its record
   being read from traces.assembled, at half the measured end-to-end rate (p99 <= 250 ms);
3. RSS per open span: 100k spans decoded from bundles held in the window store (<= 1.5 KB).

Run: .venv/bin/python benchmarks/pipeline.py [--spans 150000] [--latency-s 15]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.adapters.assembler_runtime import RELEASED_AT_HEADER  # noqa: E402
from pipeline.adapters.infra import ensure_kafka, ensure_redis  # noqa: E402
from pipeline.adapters.kafka.config import consumer_config, producer_config  # noqa: E402
from pipeline.adapters.kafka.topics import create_topics  # noqa: E402
from pipeline.adapters.net import free_port  # noqa: E402
from pipeline.domain.assembly import assemble_trace, group_by_trace  # noqa: E402
from pipeline.domain.codec import decode_bundle, decode_spans, encode_spans  # noqa: E402
from pipeline.domain.span import Span  # noqa: E402
from pipeline.domain.synthetic import SyntheticTraces  # noqa: E402
from pipeline.domain.windows import TraceWindows, WindowOptions  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.testing.otlp import otlp_request_bytes  # noqa: E402
from pipeline.testing.workers import WorkerProcess  # noqa: E402

PROTO = "application/x-protobuf"
SPANS_PER_TRACE = 10
PARTITIONS = 4
READER_FETCH_WAIT_MS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def make_batches(
    n_spans: int, seed: int, link_ratio: float = 0.0
) -> tuple[list[tuple[bytes, int]], dict[str, int]]:
    """OTLP protobuf requests of 100-500 spans (whole traces), and spans per trace id."""
    rng = random.Random(seed)
    source = SyntheticTraces(seed, link_ratio=link_ratio)
    batches: list[tuple[bytes, int]] = []
    expected: dict[str, int] = {}
    made = 0
    while made < n_spans:
        spans: list[Span] = []
        for _ in range(rng.randint(10, 50)):  # 10-50 traces of 10 spans = 100-500 spans
            trace = source.trace(SPANS_PER_TRACE)
            expected[trace[0].trace_id] = len(trace)
            spans.extend(trace)
        batches.append((otlp_request_bytes(spans), len(spans)))
        made += len(spans)
    return batches, expected


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (librdkafka and faust threads are named)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def produce_all(bootstrap: str, settings: Settings, topic: str, batches: list[tuple[bytes, int]]) -> None:
    producer = Producer(producer_config(settings, bootstrap))
    for i, (value, _) in enumerate(batches):
        producer.produce(topic, value, partition=i % PARTITIONS, headers=[("content-type", PROTO.encode())])
        producer.poll(0)
    assert producer.flush(120) == 0


def reader(bootstrap: str, settings: Settings, topic: str, fetch_wait_ms: int = 500) -> Consumer:
    group = f"bench-{uuid.uuid4().hex[:8]}"
    conf = consumer_config(
        settings, group, bootstrap, enable_auto_commit=False, fetch_wait_max_ms=fetch_wait_ms
    )
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


def read_until(consumer: Consumer, done: Callable[[Any], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            if msg.error() is None and done(msg):
                return
    raise TimeoutError(f"output incomplete after {timeout}s")


# ---- 1a. the baseline loop ---------------------------------------------------------------
def plain_loop(
    bootstrap: str, settings: Settings, topic_in: str, topic_out: str, total_spans: int
) -> tuple[float, float]:
    """consume -> decode -> group by trace -> assemble -> produce, one process; (cpu s, wall s)."""
    consumer = reader(bootstrap, settings, topic_in)
    producer = Producer(producer_config(settings, bootstrap))
    gc.collect()
    gc.freeze()
    seen = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while seen < total_spans:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if msg.error() is not None:
                continue
            spans = decode_spans(msg.value(), content_type=PROTO)
            for trace_id, group in group_by_trace(spans).items():
                producer.produce(topic_out, orjson.dumps(assemble_trace(trace_id, group)), trace_id.encode())
            producer.poll(0)
            seen += len(spans)
    producer.flush(60)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gc.unfreeze()
    consumer.close()
    return cpu, wall


# ---- 1b. the pipeline ----------------------------------------------------------------------
def run_pipeline(
    bootstrap: str,
    settings: Settings,
    batches: list[tuple[bytes, int]],
    expected: dict[str, int],
    workers: list[WorkerProcess],
    *,
    profile_dir: Path | None = None,
) -> tuple[list[float], float]:
    """Feed every batch at once; (CPU s of each worker, wall s) until every trace is out."""
    consumer = reader(bootstrap, settings, settings.topic_traces)
    # Warm-up: one batch through both workers proves they are up and assigned.
    warm, warm_expected = make_batches(1, seed=99)
    produce_all(bootstrap, settings, settings.topic_spans_in, warm)
    read_until(consumer, lambda m: orjson.loads(m.value())["trace_id"] in warm_expected, timeout=240)
    cpu0 = [proc_cpu_s(w.pid) for w in workers]
    threads0 = [thread_cpu_s(w.pid) for w in workers]
    spies = [start_profiler(w.pid, profile_dir / f"{w.name}.folded") for w in workers] if profile_dir else []
    wall0 = time.perf_counter()
    produce_all(bootstrap, settings, settings.topic_spans_in, batches)
    missing = dict(expected)

    def done(msg: Any) -> bool:
        doc = orjson.loads(msg.value())
        if len(doc["spans"]) >= missing.get(doc["trace_id"], 1 << 30):
            del missing[doc["trace_id"]]
        return not missing

    read_until(consumer, done, timeout=300)
    wall = time.perf_counter() - wall0
    cpu = [proc_cpu_s(w.pid) - c0 for w, c0 in zip(workers, cpu0, strict=True)]
    for w, t0 in zip(workers, threads0, strict=True):
        t1 = thread_cpu_s(w.pid)
        busy = sorted(((t1[k] - t0.get(k, 0.0), k) for k in t1), reverse=True)[:6]
        print(f"  {w.name} CPU by thread: " + ", ".join(f"{k} {v:.2f}s" for v, k in busy), flush=True)
    for spy in spies:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    consumer.close()
    return cpu, wall


# ---- profile ----------------------------------------------------------------------------------
def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the worker `pid` (folded stacks), or None when py-spy is unavailable."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return None
    cmd = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_table(folded: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, self %, inclusive %) of the busiest functions in py-spy's folded stacks."""
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r" \((.*/)?", " (", f) for f in stack.split(";") if f]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for frame in set(frames):
            incl_n[frame] = incl_n.get(frame, 0) + n
    if not total:
        return []
    busiest = sorted(self_n, key=lambda f: -self_n[f])[:top]
    return [(f, 100 * self_n[f] / total, 100 * incl_n[f] / total) for f in busiest]


# ---- 2. latency at half load -------------------------------------------------------------
def latency_at(bootstrap: str, settings: Settings, spans_per_s: float, seconds: float) -> list[float]:
    """Feed fresh batches at `spans_per_s` for `seconds`; release->read latencies in ms."""
    batches, expected = make_batches(int(spans_per_s * seconds), seed=7)
    # A short fetch wait for this reader only: with the 500 ms default the broker holds each
    # fetch up to 500 ms, which would be measured as pipeline latency. It keeps polling, so it
    # does not starve.
    consumer = reader(bootstrap, settings, settings.topic_traces, fetch_wait_ms=READER_FETCH_WAIT_MS)
    latencies: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=1000, timeout=0.1):
                if msg.error() is not None:
                    continue
                now = time.time_ns()
                released = dict(msg.headers() or []).get(RELEASED_AT_HEADER)
                if released is not None and orjson.loads(msg.value())["trace_id"] in expected:
                    latencies.append((now - int(released)) / 1e6)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    producer = Producer(producer_config(settings, bootstrap))
    start = time.perf_counter()
    sent = 0
    for i, (value, n) in enumerate(batches):
        due = start + sent / spans_per_s
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        producer.produce(
            settings.topic_spans_in,
            value,
            partition=i % PARTITIONS,
            headers=[("content-type", PROTO.encode())],
        )
        producer.poll(0)
        sent += n
    producer.flush(60)
    deadline = time.monotonic() + 60 + settings.idle_timeout_s
    while len(latencies) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    thread.join(5)
    consumer.close()
    return latencies


def delivery_buckets(port: int) -> dict[float, float]:
    """Cumulative counts of the assembler's release -> delivery histogram, by upper bound (s)."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "obspipe_trace_release_to_delivery_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    out[float(sample.labels["le"])] = sample.value
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The smallest bucket bound (ms) holding quantile `q` of the observations between two scrapes."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    for bound in bounds:
        if total and after[bound] - before.get(bound, 0.0) >= q * total:
            return bound * 1000
    return float("nan")


# ---- 3. memory per open span -------------------------------------------------------------
def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def rss_per_open_span(n_spans: int = 100_000) -> float:
    """Bytes of RSS per span held open in the window store (spans decoded from bundles)."""
    source = SyntheticTraces(5)
    bundles = [
        encode_spans([s for _ in range(50) for s in source.trace(SPANS_PER_TRACE)])
        for _ in range(n_spans // 500)
    ]
    windows = TraceWindows(WindowOptions(idle_timeout_s=1e9, max_trace_age_s=1e9))
    gc.collect()
    before = rss_kb()
    for i, bundle in enumerate(bundles):
        windows.add_spans(("spans", 0, i), decode_bundle(bundle), now=0.0)
    gc.collect()
    after = rss_kb()
    assert windows.open_spans == n_spans
    return (after - before) * 1024 / n_spans


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=150_000)
    parser.add_argument("--latency-s", type=float, default=15.0)
    parser.add_argument(
        "--link-ratio",
        type=float,
        default=0.0,
        help="Share of spans linking to an earlier trace (default 0).",
    )
    parser.add_argument(
        "--no-index", action="store_true", help="Run the assembler without the Redis trace index."
    )
    parser.add_argument(
        "--profile", action="store_true", help="Sample both workers with py-spy; print hot spots."
    )
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="obspipe-bench-"))
    base = load_settings(run_dir=run_dir)
    bootstrap, broker = ensure_kafka(base)
    redis_url, redis = ensure_redis(base)
    suffix = uuid.uuid4().hex[:8]
    topics = {
        name: f"{field.default}-bench-{suffix}"
        for name, field in Settings.model_fields.items()
        if name.startswith("topic_") and isinstance(field.default, str)
    }
    settings = load_settings(
        run_dir=run_dir,
        kafka_bootstrap=bootstrap,
        redis_url=redis_url,
        topic_partitions=PARTITIONS,
        idle_timeout_s=1.0,
        worker_group_prefix=f"bench-{suffix}",
        trace_index_prefix=f"bench-{suffix}",
        trace_index_enabled=not args.no_index,
        **topics,
    )
    workers: list[WorkerProcess] = []
    metrics_port = free_port()
    try:
        print(f"generating {args.spans} spans in OTLP protobuf batches of 100-500 ...", flush=True)
        batches, expected = make_batches(args.spans, seed=1, link_ratio=args.link_ratio)
        total = sum(n for _, n in batches)
        create_topics(settings)
        plain_in, plain_out = f"plain-in-{suffix}", f"plain-out-{suffix}"
        create_topics(settings.model_copy(update={"topic_spans_in": plain_in, "topic_traces": plain_out}))
        produce_all(bootstrap, settings, plain_in, batches)
        print("baseline: plain confluent-kafka loop ...", flush=True)
        plain_first = plain_loop(bootstrap, settings, plain_in, plain_out, total)
        print("pipeline: span-ingest + trace-assembler workers ...", flush=True)
        for name in ("span-ingest", "trace-assembler"):
            own = settings.model_copy(
                update={"metrics_port": metrics_port if name == "trace-assembler" else 0}
            )
            workers.append(WorkerProcess(name, own, run_dir / f"{name}.log", loglevel="warning").start())
        profile_dir = run_dir if args.profile else None
        worker_cpu, pipe_wall = run_pipeline(
            bootstrap, settings, batches, expected, workers, profile_dir=profile_dir
        )
        wall_rate = total / pipe_wall
        # The baseline again, after the pipeline: the machine's load drifts, the mean is fairer.
        print("baseline again ...", flush=True)
        plain_second = plain_loop(bootstrap, settings, plain_in, plain_out, total)
        plain_cpu = (plain_first[0] + plain_second[0]) / 2
        print(
            f"latency at half load ({wall_rate / 2:,.0f} spans/s for {args.latency_s:.0f} s) ...", flush=True
        )
        before = delivery_buckets(metrics_port)
        lat = latency_at(bootstrap, settings, wall_rate / 2, args.latency_s)
        after = delivery_buckets(metrics_port)
        print("memory per open span ...", flush=True)
        per_span = rss_per_open_span()
    finally:
        for worker in workers:
            worker.stop()
        if redis is not None:
            redis.stop()
        if broker is not None:
            broker.stop()
    pipe_cpu = sum(worker_cpu)
    plain_rate, pipe_rate = total / plain_cpu, total / pipe_cpu
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    rows = [
        ("spans (OTLP protobuf, 100-500 per record, 10 per trace)", f"{total:,}", ""),
        (
            "baseline: plain loop, spans per CPU-second (mean of 2)",
            f"{plain_rate:,.0f}",
            f"runs {total / plain_first[0]:,.0f}, {total / plain_second[0]:,.0f}",
        ),
        (
            "pipeline: spans per CPU-second of both workers",
            f"{pipe_rate:,.0f}",
            f">= 50,000; wall {wall_rate:,.0f}/s",
        ),
        ("  span-ingest alone, spans per CPU-second", f"{total / worker_cpu[0]:,.0f}", ""),
        ("  trace-assembler alone, spans per CPU-second", f"{total / worker_cpu[1]:,.0f}", ""),
        ("ratio pipeline / baseline", f"{pipe_rate / plain_rate:.2f}", ">= 0.40"),
        ("release -> read p50, ms (half load; reader fetch wait 20 ms)", f"{q[49]:.1f}", ""),
        ("release -> read p99, ms (half load)", f"{q[98]:.1f}", f"<= 250; {len(lat)} traces"),
        (
            "release -> delivery confirmed p50, ms (worker histogram)",
            f"<= {bucket_quantile(before, after, 0.5):g}",
            "",
        ),
        (
            "release -> delivery confirmed p99, ms (worker histogram)",
            f"<= {bucket_quantile(before, after, 0.99):g}",
            "",
        ),
        ("RSS per open span, bytes (100k spans in windows)", f"{per_span:,.0f}", "<= 1,536"),
        ("RSS per 100k open spans, MB", f"{per_span * 100_000 / 1e6:.1f}", ""),
    ]
    print(f"\n{'figure':<58} {'value':>12}  target / note")
    for label, value, note in rows:
        print(f"{label:<58} {value:>12}  {note}")
    for worker in workers if args.profile else ():
        folded = run_dir / f"{worker.name}.folded"
        if folded.exists():
            print(f"\nprofile of {worker.name} (py-spy; self %, inclusive %):")
            for frame, self_pct, incl_pct in profile_table(folded):
                print(f"  {self_pct:5.1f} {incl_pct:5.1f}  {frame[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
