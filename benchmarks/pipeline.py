"""End-to-end pipeline benchmark: otlp_spans -> span-ingest -> trace-assembler -> traces.assembled.

Figures, all from one invocation on the embedded broker (or OBSPIPE_KAFKA_BOOTSTRAP):
1. throughput, as the median of --runs runs (default 3; each with fresh trace ids and its own
   baseline): spans per CPU-second of the two obspipe worker processes (real subprocesses,
   `obspipe worker ...`, CPU from /proc), over OTLP protobuf batches of 100-500 spans;
   baseline, same data, same run: a plain confluent-kafka loop in one process that consumes
   the batches, decodes them, groups spans by trace, assembles and produces one record per
   trace (what the pipeline does, minus faust, windows, repartitioning and acks). The ratio
   is the figure (acceptance: >= 0.4x and >= 50k spans/s per core);
2. latency from a trace's release (the `obspipe-released-at` header, wall clock) to its record
   being read from traces.assembled, at half the warm-up's end-to-end rate (p99 <= 250 ms);
3. RSS per open span: 100k spans decoded from bundles held in the window store (<= 1.5 KB);
4. CPU of each worker while idle (10 s with no input): what its timers and polls cost.
Throughput is measured in the steady state: after warm-up traffic has filled the assembler's
late cache (so released traces evict older ones, whose spans are freed) and past the
replay-suspect tail after partition assignment.

Run: .venv/bin/python benchmarks/pipeline.py [--runs 3] [--spans 150000] [--latency-s 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_bench.baseline import plain_loop  # noqa: E402
from pipeline_bench.inputs import PARTITIONS, make_batches, produce_all  # noqa: E402
from pipeline_bench.latency import delivery_buckets, latency_at  # noqa: E402
from pipeline_bench.memory import rss_per_open_span  # noqa: E402
from pipeline_bench.report import Figures, Throughput, print_profiles, print_report  # noqa: E402
from pipeline_bench.workers import idle_cpu_pct, run_pipeline, warm_up  # noqa: E402

from pipeline.adapters.infra import ensure_kafka, ensure_redis  # noqa: E402
from pipeline.adapters.kafka.topics import create_topics  # noqa: E402
from pipeline.adapters.net import free_port  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.testing.workers import WorkerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=150_000)
    parser.add_argument("--latency-s", type=float, default=15.0)
    parser.add_argument(
        "--runs", type=int, default=3, help="Throughput runs (each with its own baseline); medians are shown."
    )
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
        create_topics(settings)
        for name in ("span-ingest", "trace-assembler"):
            own = settings.model_copy(
                update={"metrics_port": metrics_port if name == "trace-assembler" else 0}
            )
            workers.append(WorkerProcess(name, own, run_dir / f"{name}.log", loglevel="warning").start())
        print("warm-up: filling the assembler's late cache ...", flush=True)
        warm_rate = warm_up(bootstrap, settings)
        # Latency first: the embedded broker's fetches slow down as a topic grows, so measuring
        # after the throughput runs would charge the broker's growth to the pipeline.
        print(f"latency at half load ({warm_rate / 2:,.0f} spans/s, {args.latency_s:.0f} s) ...", flush=True)
        before = delivery_buckets(metrics_port)
        lat = latency_at(bootstrap, settings, warm_rate / 2, args.latency_s)
        after = delivery_buckets(metrics_port)
        runs: list[Throughput] = []
        total = 0
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}: {args.spans} spans in OTLP batches of 100-500", flush=True)
            # Fresh trace ids each run; the baseline reads its own copy of the same batches.
            batches, expected = make_batches(args.spans, seed=1 + i, link_ratio=args.link_ratio)
            total = sum(n for _, n in batches)
            plain_in, plain_out = f"plain-in-{suffix}-{i}", f"plain-out-{suffix}-{i}"
            create_topics(settings.model_copy(update={"topic_spans_in": plain_in, "topic_traces": plain_out}))
            produce_all(bootstrap, settings, plain_in, batches)
            plain_first = plain_loop(bootstrap, settings, plain_in, plain_out, total)
            profile_dir = run_dir if args.profile and i == args.runs - 1 else None
            worker_cpu, pipe_wall = run_pipeline(
                bootstrap, settings, batches, expected, workers, profile_dir=profile_dir
            )
            # The baseline again, after the pipeline: the machine's load drifts, the mean is fairer.
            plain_second = plain_loop(bootstrap, settings, plain_in, plain_out, total)
            plain_cpu = (plain_first.cpu_s, plain_second.cpu_s)
            runs.append(Throughput(total, plain_cpu, worker_cpu, total / pipe_wall))
            print(
                f"  baseline {total / (plain_first.cpu_s + plain_second.cpu_s) * 2:,.0f} (system"
                f" {plain_first.system_s:.2f}s, {plain_first.minor_faults:,} page faults), "
                f"pipeline {total / sum(worker_cpu):,.0f} spans per CPU-second",
                flush=True,
            )
        print("idle workers ...", flush=True)
        idle = idle_cpu_pct([worker.pid for worker in workers])
        print("memory per open span ...", flush=True)
        per_span = rss_per_open_span()
    finally:
        for worker in workers:
            worker.stop()
        if redis is not None:
            redis.stop()
        if broker is not None:
            broker.stop()
    print_report(
        Figures(
            runs=runs,
            latency_rate=warm_rate / 2,
            latencies_ms=lat,
            delivery_before=before,
            delivery_after=after,
            rss_per_span=per_span,
            idle_cpu_pct=idle,
        )
    )
    if args.profile:
        print_profiles(run_dir, [worker.name for worker in workers])
    return 0


if __name__ == "__main__":
    sys.exit(main())
