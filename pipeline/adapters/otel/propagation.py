"""W3C trace context and baggage in Kafka headers, through OpenTelemetry's propagators.

Kafka clients hand headers over in two shapes: confluent-kafka and aiokafka use a sequence of
`(key, value)` pairs, some callers build a dict; values are bytes on the wire but callers often
pass str. The getter accepts all of these; the setter writes bytes, replacing an existing header
of the same key so that re-injecting (a retry, a forwarded message) never leaves two
`traceparent` headers behind. Parsing `traceparent` itself is left to OpenTelemetry's
`TraceContextTextMapPropagator` (STYLE.md practice 5).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TypeAlias

from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.confluent_kafka.utils import KafkaContextGetter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Setter, TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_log = logging.getLogger(__name__)

HeaderValue: TypeAlias = bytes | str | None
# confluent-kafka's Message.headers() / aiokafka's ConsumerRecord.headers, or a dict.
Headers: TypeAlias = list[tuple[str, HeaderValue]] | dict[str, HeaderValue]
ReadableHeaders: TypeAlias = Iterable[tuple[str, HeaderValue]] | Mapping[str, HeaderValue] | None

# W3C traceparent + tracestate, then W3C baggage: what every obspipe producer and consumer speaks.
W3C_PROPAGATOR: TextMapPropagator = CompositePropagator(
    [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
)


def _pairs(carrier: Any) -> Iterable[tuple[Any, Any]]:
    if carrier is None:
        return ()
    if isinstance(carrier, Mapping):
        return carrier.items()
    return carrier  # type: ignore[no-any-return]


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None  # a malformed header carries no context; never raise on bad input
    return None


class KafkaHeadersGetter(KafkaContextGetter):
    """Reads propagation fields from Kafka headers: pairs or a dict, bytes or str values.

    Extends the contrib instrumentation's getter, which decodes bytes only and raises on str
    values or invalid UTF-8. Header keys are matched case-insensitively (HTTP-style field names).
    """

    def get(self, carrier: Any, key: str) -> list[str] | None:
        wanted = key.lower()
        found: list[str] = []
        try:
            for item in _pairs(carrier):
                k, v = item
                if isinstance(k, bytes):
                    k = k.decode("utf-8", "replace")
                if isinstance(k, str) and k.lower() == wanted:
                    text = _text(v)
                    if text is not None:
                        found.append(text)
        except (TypeError, ValueError):
            return None  # not a header collection at all
        return found or None

    def keys(self, carrier: Any) -> list[str]:
        try:
            return [str(k) for k, _ in _pairs(carrier)]
        except (TypeError, ValueError):
            return []


class KafkaHeadersSetter(Setter[Headers]):
    """Writes a propagation field as a bytes header, replacing any header with the same key."""

    def set(self, carrier: Headers, key: str, value: str) -> None:
        encoded = value.encode("utf-8")
        if isinstance(carrier, MutableMapping):
            for existing in [k for k in carrier if k.lower() == key.lower()]:
                del carrier[existing]
            carrier[key] = encoded
            return
        carrier[:] = [(k, v) for k, v in carrier if k.lower() != key.lower()]
        carrier.append((key, encoded))


GETTER = KafkaHeadersGetter()
SETTER = KafkaHeadersSetter()


def inject_headers(
    headers: Headers | None = None,
    context: otel_context.Context | None = None,
    propagator: TextMapPropagator = W3C_PROPAGATOR,
) -> Headers:
    """Write `traceparent`, `tracestate` and `baggage` for `context` into Kafka headers.

    Args:
        headers: a list of `(key, value)` pairs or a dict, updated in place; None = a new list.
        context: the context to propagate; None = the current one.
        propagator: defaults to W3C trace context + baggage.

    Returns:
        The same headers object (or the new list), ready for `produce(headers=...)`.
    """
    carrier: Headers = [] if headers is None else headers
    propagator.inject(carrier, context=context, setter=SETTER)
    return carrier


def extract_context(
    headers: ReadableHeaders,
    context: otel_context.Context | None = None,
    propagator: TextMapPropagator = W3C_PROPAGATOR,
) -> otel_context.Context:
    """The context carried by Kafka headers, on top of `context` (default: the current one).

    Missing or malformed headers leave the base context unchanged; this never raises.
    """
    base = otel_context.get_current() if context is None else context
    try:
        return propagator.extract(headers, context=base, getter=GETTER)
    except Exception:  # a propagator must not take a worker down on bad input
        _log.debug("ignoring unreadable propagation headers", exc_info=True)
        return base
