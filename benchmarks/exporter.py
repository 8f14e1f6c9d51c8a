"""KafkaSpanExporter: spans/s published from one thread, and the cost it adds to `span.end()`.

Baselines measured in the same run:
- publish: the SDK's InMemorySpanExporter.export and the SDK's OTLP encoder on the same batches;
- span.end(): a TracerProvider without processors, BatchSpanProcessor(InMemorySpanExporter),
  SimpleSpanProcessor(ConsoleSpanExporter writing to /dev/null).
The broker is OBSPIPE_KAFKA_BOOTSTRAP if set, else the embedded broker. Acceptance (issue 4):
<= 5 µs median added per span.end() with BatchSpanProcessor(KafkaSpanExporter) over the
processor-less provider, and >= 50,000 spans/s published from one process.

Run: .venv/bin/python benchmarks/exporter.py [--spans 200000] [--end-samples 50000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AnyValue

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.adapters.infra import ensure_kafka
from pipeline.adapters.otel.exporter import build_kafka_span_exporter
from pipeline.adapters.otel.otlp import encode
from pipeline.settings import load_settings

BATCH = 512  # BatchSpanProcessor's default max_export_batch_size
ATTRS: dict[str, AnyValue] = {
    "http.request.method": "POST",
    "http.route": "/checkout",
    "http.response.status_code": 200,
    "server.address": "checkout",
    "enduser.id": "user-1234",
    "app.order.id": "order-000123",
}
RESOURCE = Resource.create({"service.name": "bench", "host.name": "bench-1"})


def make_batch(n: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes=ATTRS):
        for _ in range(n - 1):
            tracer.start_span("child", attributes=ATTRS).end()
    return list(memory.get_finished_spans())


def rate(n_spans: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Spans per wall-clock second, and per CPU second of this process (all its threads, librdkafka's
    included): the second stays meaningful when other processes share the cores."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return n_spans / (time.perf_counter() - t0), n_spans / max(time.process_time() - c0, 1e-9)


def publish_rates(bootstrap: str, n_spans: int) -> list[tuple[str, tuple[float, float], str]]:
    batch = make_batch(BATCH)
    rounds = max(1, n_spans // BATCH)
    total = rounds * BATCH
    topic = f"bench-otlp-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    exporter = build_kafka_span_exporter(load_settings(kafka_bootstrap=bootstrap), topic=topic)

    def kafka_run() -> None:
        for _ in range(rounds):
            exporter.export(batch)
        if not exporter.force_flush(120_000):
            raise SystemExit("force_flush timed out")

    memory = InMemorySpanExporter()
    rows = [
        (
            "InMemorySpanExporter.export (baseline)",
            rate(total, lambda: [memory.export(batch) for _ in range(rounds)]),
            "",
        ),
        (
            "SDK OTLP encoder, encode_spans (baseline)",
            rate(total, lambda: [encode_spans(batch).SerializeToString() for _ in range(rounds)]),
            "",
        ),
        ("obspipe wire encoder only", rate(total, lambda: [encode(batch) for _ in range(rounds)]), ""),
    ]
    exporter.export(batch)  # warm-up: connection, metadata
    exporter.force_flush(30_000)
    exporter.stats.delivered = 0
    kafka_rate = rate(total, kafka_run)
    note = f"{exporter.stats.delivered}/{total} delivered, {exporter.stats.dropped_queue_full} dropped"
    rows.append(("KafkaSpanExporter -> broker, delivered", kafka_rate, note))
    exporter.shutdown()
    return rows


def end_latencies(processor: SpanProcessor | None, n: int) -> tuple[float, float]:
    provider = TracerProvider(resource=RESOURCE)
    if processor is not None:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    clock = time.perf_counter_ns
    samples: list[int] = []
    for i in range(n + 2_000):
        span = tracer.start_span("op", attributes=ATTRS)
        t0 = clock()
        span.end()
        elapsed = clock() - t0
        if i >= 2_000:  # the first 2,000 are warm-up
            samples.append(elapsed)
    provider.shutdown()
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans to publish")
    parser.add_argument("--end-samples", type=int, default=50_000, help="span.end() calls per setup")
    args = parser.parse_args()
    settings = load_settings()
    bootstrap, broker = ensure_kafka(settings)
    try:
        gc.collect()
        print(f"exporter benchmark — broker {'embedded' if broker else bootstrap}, batches of {BATCH}")
        print(f"\n{'publish from one thread':<44}{'spans/s':>12}{'per CPU-s':>14}  note")
        publish = publish_rates(bootstrap, args.spans)
        for name, (wall, cpu), note in publish:
            print(f"{name:<44}{wall:>12,.0f}{cpu:>14,.0f}  {note}")

        topic = f"bench-end-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        kafka = build_kafka_span_exporter(load_settings(kafka_bootstrap=bootstrap), topic=topic)
        with open(os.devnull, "w") as devnull:
            setups: list[tuple[str, Callable[[], SpanProcessor | None]]] = [
                ("no processor (baseline)", lambda: None),
                (
                    "Batch(InMemorySpanExporter) (baseline)",
                    lambda: BatchSpanProcessor(InMemorySpanExporter()),
                ),
                (
                    "Simple(ConsoleSpanExporter>/dev/null) (baseline)",
                    lambda: SimpleSpanProcessor(ConsoleSpanExporter(out=devnull)),
                ),
                ("Batch(KafkaSpanExporter)", lambda: BatchSpanProcessor(kafka)),
            ]
            results = {name: end_latencies(factory(), args.end_samples) for name, factory in setups}
        base_median = results["no processor (baseline)"][0]
        print(f"\n{'span.end() on the application thread':<50}{'median µs':>10}{'p99 µs':>9}{'added µs':>10}")
        for name, (median, p99) in results.items():
            print(f"{name:<50}{median:>10.2f}{p99:>9.2f}{median - base_median:>10.2f}")
        print(
            f"  (Kafka: {kafka.stats.queued:,} of {args.end_samples + 2_000:,} spans reached the exporter; "
            "BatchSpanProcessor drops when its 2,048-span queue is full — the loop ends spans back to back)"
        )
        added = results["Batch(KafkaSpanExporter)"][0] - base_median
        kafka_rate, kafka_cpu_rate = publish[-1][1]
        print(
            f"\nacceptance: added median {added:.2f} µs (<= 5: {'PASS' if added <= 5 else 'FAIL'}); "
            f"publish {kafka_rate:,.0f} spans/s (>= 50,000: {'PASS' if kafka_rate >= 50_000 else 'FAIL'}; "
            f"{kafka_cpu_rate:,.0f} per CPU-second, the figure when the cores are not shared)"
        )
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
