"""Spans for Kafka producers and consumers, with OpenTelemetry messaging semantic conventions.

The project's rule (DESIGN.md §4): a consumer span *links* to the producer's context and never
parents it, so a message's processing starts a trace of its own (or continues the consumer's
current one) and the producer's trace stays bounded. A batch handler gets one span that links to
every message of the batch, the pattern the messaging semantic conventions prescribe for batches.
Attributes follow the OpenTelemetry messaging conventions (`messaging.system`,
`messaging.destination.name`, `messaging.destination.partition.id`, `messaging.kafka.offset`,
`messaging.batch.message_count`, `messaging.operation.type`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.util.types import Attributes

from pipeline.adapters.otel.propagation import Headers, ReadableHeaders, extract_context, inject_headers

SYSTEM = "kafka"


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What the span helpers need from a consumed message, whatever client delivered it."""

    topic: str
    partition: int | None
    offset: int | None
    headers: ReadableHeaders


def _field(message: Any, name: str) -> Any:
    value = getattr(message, name, None)
    return value() if callable(value) else value  # confluent: methods; aiokafka: attributes


def message_info(message: Any) -> MessageInfo:
    """Reads topic, partition, offset and headers from a confluent-kafka `Message`, an aiokafka
    `ConsumerRecord` or a `MessageInfo`."""
    if isinstance(message, MessageInfo):
        return message
    return MessageInfo(
        topic=str(_field(message, "topic") or ""),
        partition=_field(message, "partition"),
        offset=_field(message, "offset"),
        headers=_field(message, "headers"),
    )


def _message_attributes(info: MessageInfo) -> dict[str, Any]:
    attrs: dict[str, Any] = {"messaging.system": SYSTEM, "messaging.destination.name": info.topic}
    if info.partition is not None and info.partition >= 0:
        attrs["messaging.destination.partition.id"] = str(info.partition)
    if info.offset is not None and info.offset >= 0:
        attrs["messaging.kafka.offset"] = info.offset
    return attrs


def link_to_message(info: MessageInfo) -> Link | None:
    """A link to the producer context a message carries; None when it carries none (or a bad one)."""
    ctx = extract_context(info.headers, context=otel_context.Context())
    span_context = trace.get_current_span(ctx).get_span_context()
    if not span_context.is_valid:
        return None
    return Link(span_context, _message_attributes(info))


@contextmanager
def producer_span(
    tracer: Tracer,
    topic: str,
    headers: Headers | None = None,
    *,
    partition: int | None = None,
    attributes: Attributes = None,
    context: otel_context.Context | None = None,
) -> Iterator[tuple[trace.Span, Headers]]:
    """Starts a PRODUCER span `send <topic>` and injects its context into the message headers.

    Usage: `with producer_span(tracer, "orders") as (span, headers): producer.produce(..., headers=headers)`.

    Args:
        tracer: the service's tracer.
        topic: destination topic.
        headers: headers to add to (list of pairs or dict); None = a new list.
        partition: the partition, when the caller chooses it.
        attributes: extra span attributes.
        context: parent context; None = the current one.
    """
    attrs: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": topic,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    if partition is not None:
        attrs["messaging.destination.partition.id"] = str(partition)
    attrs.update(attributes or {})
    with tracer.start_as_current_span(
        f"send {topic}", context=context, kind=SpanKind.PRODUCER, attributes=attrs
    ) as span:
        carrier = inject_headers(headers)  # the current context now holds the PRODUCER span
        yield span, carrier


@contextmanager
def consumer_span(
    tracer: Tracer,
    message: Any,
    *,
    name: str | None = None,
    attributes: Attributes = None,
    context: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span `process <topic>` for one message, linked to (not parented by) its producer.

    The span's parent is `context` (default: the current context), so a consumer that handles
    a message outside any span starts a new trace; the message's context arrives as a link.
    """
    info = message_info(message)
    link = link_to_message(info)
    attrs = _message_attributes(info)
    attrs["messaging.operation.type"] = "process"
    attrs["messaging.operation.name"] = "process"
    attrs.update(attributes or {})
    with tracer.start_as_current_span(
        name or f"process {info.topic}",
        context=context,
        kind=SpanKind.CONSUMER,
        attributes=attrs,
        links=[link] if link is not None else None,
    ) as span:
        yield span


@contextmanager
def batch_consumer_span(
    tracer: Tracer,
    messages: Sequence[Any],
    *,
    name: str | None = None,
    attributes: Attributes = None,
    context: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """One CONSUMER span for a batch, linking to the producer context of every message in it.

    Named `process <topic>` when the batch has one topic (semantic conventions: the name must
    not carry the batch size, which would split RED metrics by batch size), else `process`.
    Messages without a readable context are counted in `obspipe.messages_without_context`.
    """
    infos = [message_info(m) for m in messages]
    links: list[Link] = []
    for info in infos:
        link = link_to_message(info)
        if link is not None:
            links.append(link)
    topics = {info.topic for info in infos}
    attrs: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.batch.message_count": len(infos),
    }
    if len(topics) == 1:
        attrs["messaging.destination.name"] = next(iter(topics))
    partitions = {info.partition for info in infos}
    if len(partitions) == 1 and (p := next(iter(partitions))) is not None and p >= 0:
        attrs["messaging.destination.partition.id"] = str(p)
    if len(links) < len(infos):
        attrs["obspipe.messages_without_context"] = len(infos) - len(links)
    attrs.update(attributes or {})
    default_name = f"process {next(iter(topics))}" if len(topics) == 1 else "process"
    with tracer.start_as_current_span(
        name or default_name, context=context, kind=SpanKind.CONSUMER, attributes=attrs, links=links
    ) as span:
        yield span
