"""`KafkaSpanExporter`: an OpenTelemetry SDK span exporter that publishes to obspipe's input topic.

Use it behind the SDK's `BatchSpanProcessor`, which keeps `span.end()` on the application
thread down to a queue append and calls `export()` from its own thread with up to 512 spans.
Each `export()` call becomes one Kafka record (an OTLP `ExportTraceServiceRequest`, protobuf by
default or OTLP/JSON) with a `content-type` header: the records the OpenTelemetry Collector's
kafka exporter writes, so obspipe ingests both alike.

Never blocking the application: `produce()` only appends to librdkafka's local queue, bounded by
`queue.buffering.max.kbytes`; when that queue is full the record is dropped at once (BufferError),
counted, and logged the first time only. A record larger than the producer's `message.max.bytes`
is split in halves until each part fits. Delivery results arrive through `poll(0)` after each
export and `flush()` in `force_flush`/`shutdown`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaException, Producer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pipeline.adapters.kafka.acking_producer import too_large
from pipeline.adapters.otel.otlp import CONTENT_TYPES, Encoding, encode
from pipeline.settings import Settings

_log = logging.getLogger(__name__)


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer the exporter uses."""

    def produce(self, topic: str, value: bytes, *, headers: Any = ..., on_delivery: Any = ...) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


@dataclass(slots=True)
class ExporterStats:
    """Counters since start; spans, except `records`."""

    records: int = 0  # records handed to the producer
    queued: int = 0  # spans in those records
    delivered: int = 0  # spans the broker acknowledged
    delivery_failed: int = 0  # spans whose record the broker (or librdkafka) rejected
    dropped_queue_full: int = 0  # spans dropped because the local queue was full
    encode_failed: int = 0  # spans that could not be encoded
    after_shutdown: int = 0  # spans offered after shutdown()
    too_large: int = 0  # single spans whose record alone exceeds message.max.bytes


class KafkaSpanExporter(SpanExporter):
    """Publishes each batch of finished spans as one OTLP record to a Kafka topic."""

    def __init__(
        self,
        producer: ProducerLike,
        topic: str,
        encoding: Encoding = "otlp_proto",
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._encoding: Encoding = encoding
        self._headers = [("content-type", CONTENT_TYPES[encoding])]
        self._shutdown_timeout_s = shutdown_timeout_s
        self._lock = threading.Lock()
        self._shut_down = False
        self._warned_full = False
        self.stats = ExporterStats()

    @property
    def topic(self) -> str:
        return self._topic

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Queues one record with `spans`; returns at once, SUCCESS meaning queued, not delivered."""
        count = len(spans)
        if self._shut_down:
            with self._lock:
                self.stats.after_shutdown += count
            return SpanExportResult.FAILURE
        if count == 0:
            return SpanExportResult.SUCCESS
        try:
            value = encode(spans, self._encoding)
        except Exception:
            _log.exception("could not encode %d spans; dropping them", count)
            with self._lock:
                self.stats.encode_failed += count
            return SpanExportResult.FAILURE
        try:
            self._producer.produce(
                self._topic,
                value,
                headers=self._headers,
                on_delivery=lambda err, _msg: self._on_delivery(err, count),
            )
        except BufferError:
            self._dropped(count)
            return SpanExportResult.FAILURE
        except KafkaException as exc:
            if not too_large(exc):
                raise
            return self._export_halves(spans)
        with self._lock:
            self.stats.records += 1
            self.stats.queued += count
        self._producer.poll(0)  # serve delivery callbacks of earlier records; never waits
        return SpanExportResult.SUCCESS

    def _export_halves(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """A record over the producer's `message.max.bytes`: send each half as its own record."""
        if len(spans) == 1:
            _log.warning("dropping one span whose record exceeds message.max.bytes")
            with self._lock:
                self.stats.too_large += 1
            return SpanExportResult.FAILURE
        mid = len(spans) // 2
        first, second = self.export(spans[:mid]), self.export(spans[mid:])
        ok = first is SpanExportResult.SUCCESS and second is SpanExportResult.SUCCESS
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _dropped(self, count: int) -> None:
        with self._lock:
            self.stats.dropped_queue_full += count
            first = not self._warned_full
            self._warned_full = True
        if first:  # logged once: a full queue under load would otherwise flood the log
            _log.warning(
                "span export queue full: dropping spans (counted in stats.dropped_queue_full; "
                "logged once); the broker is slow or unreachable"
            )

    def _on_delivery(self, err: Any, count: int) -> None:
        with self._lock:
            if err is None:
                self.stats.delivered += count
            else:
                self.stats.delivery_failed += count
        if err is not None:
            _log.warning("span record not delivered (%d spans): %s", count, err)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Waits up to `timeout_millis` for every queued record; True when none is left."""
        if self._shut_down:
            return False
        return self._producer.flush(max(timeout_millis, 0) / 1000.0) == 0

    def shutdown(self) -> None:
        """Delivers what is queued (bounded wait), then refuses further exports. Idempotent."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        left = self._producer.flush(self._shutdown_timeout_s)
        if left:
            _log.warning("span exporter shut down with %d records undelivered", left)


def exporter_producer_config(
    settings: Settings, bootstrap: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """librdkafka config of the exporter's producer: obspipe's producer config (bootstrap, SASL/TLS,
    idempotence, batching) with the local queue bounded by OBSPIPE_EXPORTER_QUEUE_MAX_KBYTES
    (librdkafka's default is 1 GiB) and a 30 s delivery timeout.

    Args:
        settings: obspipe settings.
        bootstrap: overrides OBSPIPE_KAFKA_BOOTSTRAP.
        overrides: librdkafka keys with `_` for `.` (e.g. `linger_ms=50`).
    """
    from pipeline.adapters.kafka.config import producer_config

    return producer_config(
        settings,
        bootstrap,
        **{
            "queue_buffering_max_kbytes": settings.exporter_queue_max_kbytes,
            # Spans are telemetry: an unavailable broker must not hold them (and memory) for long.
            "message_timeout_ms": 30_000,
            **overrides,
        },
    )


def build_kafka_span_exporter(
    settings: Settings,
    *,
    bootstrap: str | None = None,
    topic: str | None = None,
    encoding: Encoding | None = None,
    **producer_overrides: Any,
) -> KafkaSpanExporter:
    """A `KafkaSpanExporter` with its own confluent-kafka producer (`exporter_producer_config`).

    Args:
        settings: obspipe settings.
        bootstrap: overrides OBSPIPE_KAFKA_BOOTSTRAP.
        topic: default OBSPIPE_TOPIC_SPANS_IN (`otlp_spans`).
        encoding: default OBSPIPE_EXPORTER_ENCODING.
        producer_overrides: librdkafka keys with `_` for `.` (e.g. `linger_ms=50`).
    """
    return KafkaSpanExporter(
        Producer(exporter_producer_config(settings, bootstrap, **producer_overrides)),
        topic or settings.topic_spans_in,
        encoding or settings.exporter_encoding,
        settings.exporter_shutdown_timeout_s,
    )
