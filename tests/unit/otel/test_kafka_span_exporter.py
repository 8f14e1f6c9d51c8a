"""KafkaSpanExporter against an in-memory stand-in of the producer (the real broker: tests/integration)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from pipeline.adapters.otel.exporter import KafkaSpanExporter, exporter_producer_config
from pipeline.adapters.otel.otlp import encode
from pipeline.settings import load_settings


class FakeProducer:
    """Queues records like librdkafka's local queue; `capacity` records fit, then BufferError."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self.queue: list[tuple[str, bytes, list, object]] = []
        self.sent: list[tuple[str, bytes, list]] = []
        self.flushes: list[float] = []
        self.fail_delivery = False

    def produce(self, topic, value, *, headers=None, on_delivery=None) -> None:
        if len(self.queue) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.queue.append((topic, value, headers, on_delivery))

    def poll(self, timeout: float) -> int:
        served = len(self.queue)
        for topic, value, headers, cb in self.queue:
            self.sent.append((topic, value, headers))
            cb("broker down" if self.fail_delivery else None, None)
        self.queue.clear()
        return served

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        self.poll(0)
        return 0


class StuckProducer(FakeProducer):
    """Never delivers: poll serves nothing and flush reports what is left."""

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        return len(self.queue)


def _spans(tracing, n: int):
    for i in range(n):
        tracing.tracer.start_span(f"s{i}").end()
    spans = tracing.spans()
    tracing.exporter.clear()
    return spans


def test_one_record_per_export_with_content_type(tracing) -> None:
    """Two export calls of 3 and 2 spans give two protobuf records with 3 and 2 spans."""
    producer = FakeProducer()
    exporter = KafkaSpanExporter(producer, "otlp_spans")
    assert exporter.export(_spans(tracing, 3)) is SpanExportResult.SUCCESS
    assert exporter.export(_spans(tracing, 2)) is SpanExportResult.SUCCESS
    assert [t for t, _, _ in producer.sent] == ["otlp_spans", "otlp_spans"]
    counts = [
        sum(
            len(ss.spans)
            for rs in ExportTraceServiceRequest.FromString(v).resource_spans
            for ss in rs.scope_spans
        )
        for _, v, _ in producer.sent
    ]
    assert counts == [3, 2]
    assert producer.sent[0][2] == [("content-type", b"application/x-protobuf")]
    assert (exporter.stats.records, exporter.stats.queued, exporter.stats.delivered) == (2, 5, 5)


def test_json_encoding_sets_json_content_type(tracing) -> None:
    """With otlp_json the header says application/json and the value is JSON."""
    producer = FakeProducer()
    KafkaSpanExporter(producer, "t", "otlp_json").export(_spans(tracing, 1))
    _, value, headers = producer.sent[0]
    assert headers == [("content-type", b"application/json")]
    assert value.startswith(b'{"resourceSpans"')


def test_full_queue_drops_counts_and_warns_once(tracing, caplog) -> None:
    """When the local queue is full, exports fail at once, drops are counted, one warning is logged."""
    producer = StuckProducer(capacity=1)
    exporter = KafkaSpanExporter(producer, "t")
    caplog.set_level(logging.WARNING, logger="pipeline.adapters.otel.exporter")
    results = [exporter.export(_spans(tracing, 4)) for _ in range(3)]
    assert results == [SpanExportResult.SUCCESS, SpanExportResult.FAILURE, SpanExportResult.FAILURE]
    assert exporter.stats.dropped_queue_full == 8
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1


def test_delivery_failures_are_counted(tracing) -> None:
    """A record the broker rejects counts its spans as delivery_failed, not delivered."""
    producer = FakeProducer()
    producer.fail_delivery = True
    exporter = KafkaSpanExporter(producer, "t")
    exporter.export(_spans(tracing, 3))
    assert (exporter.stats.delivered, exporter.stats.delivery_failed) == (0, 3)


def test_force_flush_reports_whether_everything_was_delivered(tracing) -> None:
    """force_flush is True when the queue drained within the timeout and False when records remain."""
    assert KafkaSpanExporter(FakeProducer(), "t").force_flush(1000) is True
    stuck = StuckProducer()
    exporter = KafkaSpanExporter(stuck, "t")
    exporter.export(_spans(tracing, 1))
    assert exporter.force_flush(250) is False
    assert stuck.flushes == [0.25]


def test_shutdown_is_idempotent_and_later_exports_fail(tracing) -> None:
    """shutdown flushes once, a second shutdown does nothing, and export afterwards fails and is counted."""
    producer = FakeProducer()
    exporter = KafkaSpanExporter(producer, "t", shutdown_timeout_s=2.0)
    exporter.shutdown()
    exporter.shutdown()
    assert producer.flushes == [2.0]
    assert exporter.export(_spans(tracing, 2)) is SpanExportResult.FAILURE
    assert exporter.stats.after_shutdown == 2
    assert exporter.force_flush() is False
    assert producer.sent == []


class SizeLimitedProducer(FakeProducer):
    """Rejects values above `max_bytes` the way librdkafka does, synchronously in produce()."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def produce(self, topic, value, *, headers=None, on_delivery=None) -> None:
        if len(value) > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        super().produce(topic, value, headers=headers, on_delivery=on_delivery)


def test_a_record_over_the_size_limit_is_split_until_each_part_fits(tracing) -> None:
    """8 spans that fit 2 per record go out as 4 records holding all 8 spans, in order."""
    spans = _spans(tracing, 8)
    producer = SizeLimitedProducer(max_bytes=len(encode(spans[:2])))  # 2 spans fit, 3 do not
    exporter = KafkaSpanExporter(producer, "t")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    names = [
        [
            s.name
            for rs in ExportTraceServiceRequest.FromString(v).resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        for _, v, _ in producer.sent
    ]
    assert names == [["s0", "s1"], ["s2", "s3"], ["s4", "s5"], ["s6", "s7"]]
    assert exporter.stats.queued == 8 and exporter.stats.too_large == 0


def test_a_single_span_over_the_limit_is_dropped_and_counted(tracing) -> None:
    """A span whose record alone is too large is dropped, counted in too_large, and export fails."""
    exporter = KafkaSpanExporter(SizeLimitedProducer(max_bytes=10), "t")
    assert exporter.export(_spans(tracing, 2)) is SpanExportResult.FAILURE
    assert exporter.stats.too_large == 2 and exporter.stats.queued == 0


def test_producer_config_takes_security_and_bounds_the_queue() -> None:
    """SASL/TLS settings reach the exporter's producer, and the local queue gets the configured bound."""
    settings = load_settings(
        kafka_bootstrap="k1:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="s3cret",
        kafka_ssl_ca_location="/etc/ca.pem",
        exporter_queue_max_kbytes=1024,
    )
    conf = exporter_producer_config(settings, linger_ms=50)
    assert conf["bootstrap.servers"] == "k1:9093"
    assert conf["security.protocol"] == "sasl_ssl"
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SCRAM-SHA-512",
        "svc",
        "s3cret",
    )
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert conf["queue.buffering.max.kbytes"] == 1024
    assert conf["linger.ms"] == 50
