"""span-ingest alone: OTLP protobuf records on otlp_spans -> span bundles on obspipe.spans-by-trace.

Both rows run in this run, on the same broker and the same input records:
- baseline: a plain confluent-kafka loop in this process doing what span-ingest does, minus
  faust and acks: consume -> decode_spans -> Bundler -> encode_bundle -> produce to
  an explicit partition;
- span-ingest: a real `obspipe worker span-ingest` subprocess (its CPU read from /proc),
  measured after a warm-up record has gone through (so the group join is not counted).

The figure is spans per CPU-second of the worker, and its ratio to the baseline's.

Run: .venv/bin/python benchmarks/span_ingest.py [--records 300] [--spans-per-record 250]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.adapters.infra import ensure_kafka  # noqa: E402
from pipeline.adapters.kafka.config import consumer_config, producer_config  # noqa: E402
from pipeline.adapters.kafka.topics import create_topics  # noqa: E402
from pipeline.domain.codec import decode_bundle, decode_spans, encode_bundle  # noqa: E402
from pipeline.domain.partitioning import Bundler  # noqa: E402
from pipeline.domain.synthetic import SyntheticTraces  # noqa: E402
from pipeline.settings import Settings, load_settings  # noqa: E402
from pipeline.testing.bench import Elapsed, measured, process_cpu_s  # noqa: E402
from pipeline.testing.otlp import otlp_request_bytes  # noqa: E402
from pipeline.testing.workers import WorkerProcess  # noqa: E402
from stream_apps.common import GC_THRESHOLDS  # noqa: E402

PROTO_TYPE = "application/x-protobuf"
PROTO: list[tuple[str, str | bytes | None]] = [("content-type", PROTO_TYPE.encode())]


def input_records(records: int, spans_per_record: int) -> list[bytes]:
    source = SyntheticTraces(seed=5)
    spans = [s for _ in range(records * spans_per_record // 10) for s in source.trace(10)]
    return [
        otlp_request_bytes(spans[i : i + spans_per_record]) for i in range(0, len(spans), spans_per_record)
    ]


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(producer_config(settings))
    for value in values:
        producer.produce(topic, value, headers=PROTO)
        producer.poll(0)
    assert producer.flush(120) == 0


def count_spans_until(settings: Settings, topic: str, total: int, timeout: float) -> float:
    """Read bundles from `topic` until `total` spans are seen; returns when that happened (monotonic)."""
    consumer = Consumer(consumer_config(settings, f"bench-{uuid.uuid4().hex[:8]}", enable_auto_commit=False))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)])
    seen, deadline = 0, time.monotonic() + timeout
    try:
        while seen < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{seen}/{total} spans on {topic} after {timeout}s")
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error() is None:
                    seen += len(decode_bundle(msg.value() or b""))
        return time.monotonic()
    finally:
        consumer.close()


def plain_loop(settings: Settings, topic_in: str, topic_out: str, total: int) -> Elapsed:
    """The baseline: CPU and wall seconds to move `total` spans from topic_in to bundles on topic_out."""
    consumer = Consumer(consumer_config(settings, f"plain-{uuid.uuid4().hex[:8]}", enable_auto_commit=False))
    consumer.assign([TopicPartition(topic_in, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)])
    producer = Producer(producer_config(settings))
    seen = 0
    with measured(gc_thresholds=GC_THRESHOLDS) as elapsed:
        while seen < total:
            # Bundled as decoded, as span-ingest does (see Bundler: a whole batch freed at once
            # costs page faults).
            bundler: Bundler[None] = Bundler(settings.topic_partitions, 500)
            for m in consumer.consume(num_messages=256, timeout=0.5):
                if m.error() is not None:
                    continue
                spans = decode_spans(m.value() or b"", content_type=PROTO_TYPE)
                seen += len(spans)
                for bundle in bundler.add(spans, None):
                    producer.produce(topic_out, encode_bundle(bundle.spans), partition=bundle.partition)
            for bundle in bundler.drain():
                producer.produce(topic_out, encode_bundle(bundle.spans), partition=bundle.partition)
            producer.poll(0)
        producer.flush(60)
    consumer.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--spans-per-record", type=int, default=250)
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="obspipe-bench-ingest-"))
    base = load_settings(run_dir=run_dir)
    bootstrap, broker = ensure_kafka(base)
    try:
        suffix = uuid.uuid4().hex[:8]
        settings = load_settings(
            kafka_bootstrap=bootstrap,
            run_dir=run_dir,
            topic_spans_in=f"bench-in-{suffix}",
            topic_spans_by_trace=f"bench-bundles-{suffix}",
            topic_dlq=f"bench-dlq-{suffix}",
            worker_group_prefix=f"bench-{suffix}",
        )
        create_topics(settings)
        plain_out = f"bench-plain-{suffix}"
        create_topics(settings.model_copy(update={"topic_spans_by_trace": plain_out}))
        values = input_records(args.records, args.spans_per_record)
        total = args.records * args.spans_per_record
        produce(settings, settings.topic_spans_in, values)
        print(
            f"span-ingest benchmark: {len(values)} OTLP protobuf records x {args.spans_per_record} spans",
            flush=True,
        )

        plain = plain_loop(settings, settings.topic_spans_in, plain_out, total)

        warm = settings.model_copy(update={"topic_spans_in": f"bench-warm-in-{suffix}"})
        create_topics(warm)
        produce(warm, warm.topic_spans_in, values[:1])  # nothing else: the worker reads only this first
        worker = WorkerProcess("span-ingest", warm, run_dir / "worker.log").start()
        try:
            count_spans_until(warm, warm.topic_spans_by_trace, args.spans_per_record, timeout=120)
            cpu0, wall0 = process_cpu_s(worker.pid), time.monotonic()
            produce(warm, warm.topic_spans_in, values)
            end = count_spans_until(
                warm, warm.topic_spans_by_trace, args.spans_per_record + total, timeout=300
            )
            ingest_cpu, ingest_wall = process_cpu_s(worker.pid) - cpu0, end - wall0
        finally:
            worker.stop()
    finally:
        if broker is not None:
            broker.stop()

    plain_rate = total / plain.cpu_s
    rows = [
        ("plain confluent-kafka loop (baseline)", plain.cpu_s, plain.wall_s, plain_rate),
        ("span-ingest worker (faust, acks)", ingest_cpu, ingest_wall, total / ingest_cpu),
    ]
    print(f"{'':40} {'spans':>8} {'CPU s':>7} {'wall s':>7} {'spans/CPU-s':>12} {'ratio':>6}")
    for name, cpu, wall, rate in rows:
        print(f"{name:40} {total:>8} {cpu:>7.2f} {wall:>7.2f} {rate:>12,.0f} {rate / plain_rate:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
