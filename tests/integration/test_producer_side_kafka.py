"""The producer side against the real broker: the exporter's records, and the demo story through Kafka."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline.adapters.otel.exporter import KafkaSpanExporter, build_kafka_span_exporter
from pipeline.demo_services import EXPECTED_DIAGNOSTIC, Pitfalls, run_story
from pipeline.demo_services.transport import build_kafka_order_transport
from pipeline.domain.codec import decode_spans
from pipeline.domain.propagation_rules import assemble_with_rules

pytestmark = pytest.mark.timeout(300)

PROPAGATION_CODES = {
    "LOST_CONTEXT_SUSPECTED",
    "CONTEXT_LEAK_SUSPECTED",
    "QUEUE_PARENT_CHILD",
    "SAMPLING_INCONSISTENT",
}


def _spans_of(records):
    out = []
    for r in records:
        ct = r.header("content-type")
        out.extend(decode_spans(r.value, content_type=ct.decode() if ct else None))
    return out


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [("otlp_proto", b"application/x-protobuf"), ("otlp_json", b"application/json")],
)
def test_exporter_publishes_records_the_codec_decodes(
    encoding, content_type, obspipe_settings, new_topic, kafka
) -> None:
    """250 spans through BatchSpanProcessor(max batch 100) arrive as 3 records of the chosen encoding."""
    topic = new_topic("otlp_spans")
    exporter = build_kafka_span_exporter(obspipe_settings(), topic=topic, encoding=encoding)
    provider = TracerProvider(resource=Resource.create({"service.name": "exporter-test"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=100, schedule_delay_millis=60_000)
    )
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        for i in range(249):
            tracer.start_span(f"child-{i}").end()
    assert provider.force_flush(60_000)
    provider.shutdown()
    records = kafka.consume_until(topic, lambda rs: sum(1 for _ in rs) >= 3, timeout=120, settle=1.0)
    assert len(records) == 3
    assert {r.header("content-type") for r in records} == {content_type}
    spans = _spans_of(records)
    assert len(spans) == 250 and len({s.span_id for s in spans}) == 250
    assert {s.service_name for s in spans} == {"exporter-test"}
    (root,) = [s for s in spans if s.name == "root"]
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root)
    assert all(s.sampled for s in spans)
    assert exporter.stats.delivered == 250 and exporter.stats.dropped_queue_full == 0


def test_exporter_to_an_unreachable_broker_does_not_block_and_reports_the_flush(tracing_spans) -> None:
    """With no broker listening, export still queues at once and force_flush(0.5 s) answers False."""
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0, "message.timeout.ms": 5000})
    exporter = KafkaSpanExporter(producer, "nowhere", shutdown_timeout_s=0.1)
    assert exporter.export(tracing_spans(3)) is SpanExportResult.SUCCESS
    assert exporter.force_flush(500) is False
    assert (exporter.stats.queued, exporter.stats.delivered) == (3, 0)
    exporter.shutdown()


@pytest.fixture
def tracing_spans():
    def make(n: int):
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        for i in range(n):
            provider.get_tracer("t").start_span(f"s{i}").end()
        return memory.get_finished_spans()

    return make


def _story_over_kafka(settings, new_topic, unique_group, kafka, **kwargs):
    spans_topic = new_topic("otlp_spans")
    orders_topic = new_topic("orders")
    exporter = build_kafka_span_exporter(settings, topic=spans_topic)
    transport = build_kafka_order_transport(settings, orders_topic, unique_group("fulfillment"))
    try:
        result = run_story(exporter, transport=transport, receive_timeout_s=90, **kwargs)
    finally:
        transport.close()
        exporter.shutdown()
    expected = exporter.stats.queued
    records = kafka.consume_until(spans_topic, lambda rs: len(_spans_of(rs)) >= expected, timeout=120)
    spans = _spans_of(records)
    return result, spans, assemble_with_rules(spans)


def test_story_through_kafka_links_the_batch_and_has_no_propagation_diagnostics(
    obspipe_settings, new_topic, unique_group, kafka
) -> None:
    """Four checkouts through real Kafka: clean traces, and one batch span linking to the 4 producers."""
    result, spans, traces = _story_over_kafka(obspipe_settings(), new_topic, unique_group, kafka, orders=4)
    assert result.processed == 4
    assert not ({d["code"] for t in traces for d in t["diagnostics"]} & PROPAGATION_CODES)
    (batch,) = [s for s in spans if s.service_name == "fulfillment" and s.kind == "CONSUMER"]
    producers = {(s.trace_id, s.span_id) for s in spans if s.kind == "PRODUCER"}
    assert len({t for t, _ in producers}) == 4
    assert {(lk.trace_id, lk.span_id) for lk in batch.links} == producers
    assert {lk.attributes["messaging.destination.name"] for lk in batch.links} == {
        batch.attributes["messaging.destination.name"]
    }


@pytest.mark.slow
def test_batch_of_100_messages_through_kafka_links_to_100_traces(
    obspipe_settings, new_topic, unique_group, kafka
) -> None:
    """100 order events in one batch: one consumer span linking to 100 producer spans in 100 traces."""
    result, spans, traces = _story_over_kafka(
        obspipe_settings(), new_topic, unique_group, kafka, orders=100, items_per_order=1
    )
    assert result.processed == 100
    (batch_trace,) = [t for t in traces if t["summary"]["root_service"] == "fulfillment"]
    (batch_span,) = [s for s in batch_trace["spans"] if s["kind"] == "CONSUMER"]
    assert batch_span["attributes"]["messaging.batch.message_count"] == 100
    assert len(batch_trace["links"]) == 100
    assert len({lk["trace_id"] for lk in batch_trace["links"]}) == 100
    producers = {(s.trace_id, s.span_id) for s in spans if s.kind == "PRODUCER"}
    assert {(lk["trace_id"], lk["linked_span_id"]) for lk in batch_trace["links"]} == producers
    assert not ({d["code"] for t in traces for d in t["diagnostics"]} & PROPAGATION_CODES)


@pytest.mark.parametrize("pitfall", Pitfalls.names())
def test_each_pitfall_through_kafka_shows_its_diagnostic(
    pitfall, obspipe_settings, new_topic, unique_group, kafka
) -> None:
    """Each pitfall, run through the real broker, yields its diagnostic in the assembled traces."""
    _, _, traces = _story_over_kafka(
        obspipe_settings(), new_topic, unique_group, kafka, pitfalls=Pitfalls.only(pitfall)
    )
    assert EXPECTED_DIAGNOSTIC[pitfall] in {d["code"] for t in traces for d in t["diagnostics"]}


def test_batches_over_message_max_bytes_are_split_and_all_delivered(
    obspipe_settings, new_topic, kafka
) -> None:
    """300 spans of ~300 bytes with message.max.bytes=20000 arrive whole, over several records."""
    topic = new_topic("otlp_spans")
    exporter = build_kafka_span_exporter(obspipe_settings(), topic=topic, message_max_bytes=20_000)
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for i in range(300):
        provider.get_tracer("t").start_span(f"s{i}", attributes={"payload": "x" * 200}).end()
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    assert exporter.force_flush(60_000)
    records = kafka.consume_until(topic, lambda rs: len(_spans_of(rs)) >= 300, timeout=120, settle=1.0)
    assert len(records) > 1 and all(len(r.value) <= 20_000 for r in records)
    assert sorted(s.name for s in _spans_of(records)) == sorted(f"s{i}" for i in range(300))
    assert exporter.stats.delivered == 300 and exporter.stats.too_large == 0
    exporter.shutdown()
