"""opentelemetry-instrumentation-confluent-kafka's producer and obspipe's batch consumer span agree on
the headers: a batch handler links to every span the contrib instrumentation created for a send."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pipeline.adapters.kafka.config import consumer_config
from pipeline.adapters.otel.messaging import batch_consumer_span

pytestmark = pytest.mark.timeout(180)


def test_batch_span_links_to_the_contrib_producers_send_spans(
    obspipe_settings, new_topic, unique_group, kafka_bootstrap
) -> None:
    """Five messages sent through the contrib-instrumented producer: one batch span with five links."""
    topic = new_topic("orders")
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    producer = ConfluentKafkaInstrumentor.instrument_producer(
        Producer({"bootstrap.servers": kafka_bootstrap}), tracer_provider=provider
    )
    for i in range(5):
        producer.produce(topic, f"order-{i}".encode())
    assert producer.flush(30) == 0
    sends = [s for s in memory.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert len(sends) == 5

    consumer = Consumer(consumer_config(obspipe_settings(), unique_group("batch")))
    consumer.subscribe([topic])
    batch = []
    try:
        for _ in range(120):
            batch += [m for m in consumer.consume(5 - len(batch), timeout=1.0) if m.error() is None]
            if len(batch) == 5:
                break
    finally:
        consumer.close()
    assert len(batch) == 5
    with batch_consumer_span(provider.get_tracer("worker"), batch):
        pass
    (processed,) = [s for s in memory.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert {(lk.context.trace_id, lk.context.span_id) for lk in processed.links} == {
        (s.context.trace_id, s.context.span_id) for s in sends
    }
    assert processed.parent is None
