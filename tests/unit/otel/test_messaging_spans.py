"""Producer, consumer and batch-consumer span helpers: links, never parents, and semconv attributes."""

from __future__ import annotations

import confluent_kafka
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from pipeline.adapters.otel.messaging import batch_consumer_span, consumer_span, producer_span
from pipeline.adapters.otel.propagation import extract_context


def _aiokafka_record(
    topic: str, partition: int, offset: int, headers: list[tuple[str, bytes]]
) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, b"v", None, 0, 1, tuple(headers))


def test_producer_span_injects_its_own_context(tracing) -> None:
    """The headers written by producer_span carry the PRODUCER span's trace and span id."""
    with producer_span(tracing.tracer, "orders", partition=3) as (_span, headers):
        pass
    span = tracing.named("send orders")
    ctx = extract_context(headers)
    sc = trace.get_current_span(ctx).get_span_context()
    assert (sc.trace_id, sc.span_id) == (span.context.trace_id, span.context.span_id)
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes["messaging.system"] == "kafka"
    assert span.attributes["messaging.destination.name"] == "orders"
    assert span.attributes["messaging.destination.partition.id"] == "3"
    assert span.attributes["messaging.operation.type"] == "send"


def test_consumer_span_links_to_the_message_and_does_not_parent_to_it(tracing) -> None:
    """A consumer span outside any span starts a new trace and links to the producer span."""
    with producer_span(tracing.tracer, "orders") as (_span, headers):
        pass
    produced = tracing.named("send orders")
    message = confluent_kafka.Message(topic="orders", partition=1, offset=41, headers=headers)
    with consumer_span(tracing.tracer, message):
        pass
    consumed = tracing.named("process orders")
    assert consumed.kind is SpanKind.CONSUMER
    assert consumed.parent is None
    assert consumed.context.trace_id != produced.context.trace_id
    (link,) = consumed.links
    assert (link.context.trace_id, link.context.span_id) == (
        produced.context.trace_id,
        produced.context.span_id,
    )
    assert consumed.attributes["messaging.kafka.offset"] == 41
    assert consumed.attributes["messaging.destination.partition.id"] == "1"
    assert consumed.attributes["messaging.operation.type"] == "process"


def test_consumer_span_without_context_has_no_link(tracing) -> None:
    """A message without trace headers (or with a broken one) yields a span with no links."""
    for headers in (None, [("traceparent", b"garbage")]):
        tracing.exporter.clear()
        with consumer_span(tracing.tracer, confluent_kafka.Message(topic="t", headers=headers)):
            pass
        assert tracing.named("process t").links == ()


def test_batch_span_links_to_every_message(tracing) -> None:
    """A batch of 5 aiokafka records from 5 producer traces gives one span with 5 links and a count of 5."""
    records = []
    for i in range(5):
        with producer_span(tracing.tracer, "orders") as (_span, headers):
            pass
        records.append(_aiokafka_record("orders", 0, 100 + i, headers))
    producers = [s for s in tracing.spans() if s.name == "send orders"]
    with batch_consumer_span(tracing.tracer, records):
        pass
    batch = tracing.named("process orders")
    assert batch.parent is None
    assert batch.attributes["messaging.batch.message_count"] == 5
    assert batch.attributes["messaging.destination.partition.id"] == "0"
    assert [(lk.context.trace_id, lk.context.span_id) for lk in batch.links] == [
        (p.context.trace_id, p.context.span_id) for p in producers
    ]
    assert [lk.attributes["messaging.kafka.offset"] for lk in batch.links] == [100, 101, 102, 103, 104]
    assert len({p.context.trace_id for p in producers}) == 5


def test_batch_span_counts_messages_without_context(tracing) -> None:
    """Messages carrying no context are counted, not linked; a mixed-topic batch is named `process`."""
    with producer_span(tracing.tracer, "a") as (_span, headers):
        pass
    msgs = [
        confluent_kafka.Message(topic="a", partition=0, offset=1, headers=headers),
        confluent_kafka.Message(topic="b", partition=0, offset=2, headers=None),
    ]
    with batch_consumer_span(tracing.tracer, msgs):
        pass
    batch = tracing.named("process")
    assert len(batch.links) == 1
    assert batch.attributes["obspipe.messages_without_context"] == 1
    assert "messaging.destination.name" not in batch.attributes


def test_tracestate_reaches_the_consumer_link_through_otlp(tracing) -> None:
    """A producer under tracestate `vendor=abc` gives the consumer's link that tracestate, end to end."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    from opentelemetry.trace.span import TraceState

    from pipeline.adapters.otel.otlp import to_obspipe_spans

    upstream = SpanContext(
        0x5, 0x6, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "abc")])
    )
    with producer_span(
        tracing.tracer, "orders", context=trace.set_span_in_context(NonRecordingSpan(upstream))
    ) as (
        _span,
        headers,
    ):
        pass
    assert ("tracestate", b"vendor=abc") in headers
    with consumer_span(tracing.tracer, confluent_kafka.Message(topic="orders", headers=headers)):
        pass
    (consumed,) = [s for s in to_obspipe_spans(tracing.spans()) if s.kind == "CONSUMER"]
    assert consumed.links[0].trace_state == "vendor=abc"
