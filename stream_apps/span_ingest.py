"""span-ingest: `otlp_spans` -> decode, validate -> span bundles on `obspipe.spans-by-trace`.

Input records are OTLP protobuf or JSON requests (as the OpenTelemetry Collector's kafka
exporter writes them) or obspipe span JSON; the `content-type` header may say which. Spans
are repartitioned with obspipe's own partitioner (`pipeline.domain.partitioning`) and sent
as bundles (`pipeline.domain.codec.bundle`, at most `bundle_max_spans` spans each) to an explicit
partition, through the app's acking producer. Bad records go to the dead-letter topic.

Per batch of input events (faust's per-event cost, ~120 µs, is paid once per input record;
the spans inside travel in bundles):
1. decode every record; a bad one becomes a dead letter (reason, `topic[partition]@offset`);
2. group the spans by destination partition into bundles (`Bundler`), producing each bundle as
   soon as it is full, so a big batch's spans are encoded while hot in the CPU cache and freed
   as it goes (not all at its end: see `Bundler` on the allocator's arenas);
3. attach bundles and dead letters to one ack group, then seal it; a bundle over the
   producer's `message.max.bytes` is sent as halves, and a span too large even alone
   dead-letters its input record (`limit_exceeded`; the record's other spans go on);
4. the batch's input events are acked once all of them are delivered (see AckingProducer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust

from pipeline.adapters.kafka.acking_producer import AckGroup, ProduceHeaders, produce_in_halves
from pipeline.adapters.kafka.topics import require_partitions
from pipeline.adapters.observability import instrument_faust_app
from pipeline.domain.codec import BUNDLE_CONTENT_TYPE, Limits, decode_spans, encode_bundle
from pipeline.domain.partitioning import Bundle, Bundler
from pipeline.domain.span import Span
from pipeline.errors import DecodeError, InfrastructureError, LimitExceededError
from pipeline.settings import Settings
from stream_apps.common import AppRuntime, build_runtime

NAME = "span-ingest"
log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestStats:
    """Counters of one span-ingest worker."""

    records: int = 0
    spans: int = 0
    bundles: int = 0
    batches: int = 0


def content_type(headers: Any) -> str | None:
    """The `content-type` header of a faust message (a list of pairs or a dict), decoded."""
    items = headers.items() if isinstance(headers, dict) else headers or ()
    for key, value in items:
        if key.lower() == "content-type" and value is not None:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def build_runtime_for(settings: Settings, *, bootstrap: str | None = None) -> tuple[AppRuntime, IngestStats]:
    """The span-ingest app with its runtime and counters (tests and benchmarks use the counters)."""
    runtime = build_runtime(NAME, settings, bootstrap=bootstrap)
    app, producer, dead_letters = runtime.app, runtime.producer, runtime.dead_letters
    stats = IngestStats()
    limits = Limits.from_settings(settings)
    out_topic = settings.topic_spans_by_trace
    partitions = settings.topic_partitions
    bundle_max = settings.bundle_max_spans
    bundle_headers: ProduceHeaders = [("content-type", BUNDLE_CONTENT_TYPE)]
    source = app.topic(settings.topic_spans_in, key_type=bytes, value_type=bytes)
    metrics = instrument_faust_app(app, NAME, settings)

    def decode(message: Any) -> list[Span]:
        if message.value is None:
            raise DecodeError("empty record (a tombstone): no spans")
        return decode_spans(message.value, content_type=content_type(message.headers), limits=limits)

    def reject(message: Any, exc: Exception, group: AckGroup) -> None:
        metrics.dlq_record(getattr(exc, "reason", "unexpected_error"))
        dead_letters.send(
            message.value,
            message.key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=exc,
            group=group,
        )

    def process(events: Sequence[Any]) -> None:
        group = producer.group(events)
        bundler: Bundler[Any] = Bundler(partitions, bundle_max)  # origin: the input message
        n_spans = n_bundles = 0
        refused: set[int] = set()  # ids of messages dead-lettered for a span too large

        def send(bundle: Bundle[Any]) -> None:
            def produce(spans: Sequence[Span]) -> None:
                nonlocal n_bundles
                value = encode_bundle(spans)
                producer.produce(
                    out_topic, value, partition=bundle.partition, headers=bundle_headers, group=group
                )
                n_bundles += 1

            for span in produce_in_halves(bundle.spans, produce):  # too large alone: rare
                message = bundle.origin(next(i for i, s in enumerate(bundle.spans) if s is span))
                if id(message) not in refused:
                    refused.add(id(message))
                    error = LimitExceededError(
                        f"span {span.span_id} of trace {span.trace_id} is over the producer's"
                        " message.max.bytes even alone in a bundle; the record's other spans went on"
                    )
                    reject(message, error, group)

        for event in events:
            message = event.message
            try:
                spans = decode(message)
            except Exception as exc:  # RecordError is expected; anything else is dead-lettered too
                reject(message, exc, group)
                continue
            n_spans += len(spans)
            for bundle in bundler.add(spans, message):
                send(bundle)
        for bundle in bundler.drain():
            send(bundle)
        group.seal()
        stats.bundles += n_bundles
        metrics.records_out.inc(n_bundles)
        producer.poll()
        stats.records += len(events)
        stats.spans += n_spans
        metrics.spans_in.inc(n_spans)
        metrics.spans_out.inc(n_spans)
        stats.batches += 1

    async def ingest(stream: Any) -> None:
        batches = stream.noack().noack_take(settings.ingest_batch_max, settings.ingest_batch_within_s)
        async for events in batches:
            process(events)

    app.agent(source, name=f"{NAME}.ingest")(ingest)

    async def check_output_topic() -> None:
        # Spans are sent to explicit partitions: the topic must have exactly that many.
        try:
            # (a blocking admin call of up to 30 s: off the event loop, which runs the consumer)
            await asyncio.to_thread(require_partitions, settings, out_topic, runtime.bootstrap)
        except InfrastructureError as exc:
            log.critical("%s", exc)
            await app.crash(exc)

    app.task(check_output_topic)
    return runtime, stats


def build(settings: Settings) -> faust.App:
    """The span-ingest faust app (`obspipe worker span-ingest`)."""
    runtime, _stats = build_runtime_for(settings)
    return runtime.app
