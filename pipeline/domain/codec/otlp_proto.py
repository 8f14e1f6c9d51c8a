"""OTLP protobuf: an `ExportTraceServiceRequest`, the Collector kafka exporter's default `otlp_proto`.

Decoded with the opentelemetry-proto classes; ids are raw bytes (16 and 8) turned into hex.
proto3 has no field presence, so an unset time reads as 0 and is rejected as missing, and an
unset kind or status code reads as INTERNAL/UNSET. Events and the instrumentation scope are
ignored, as in OTLP JSON.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from orjson import dumps

from pipeline.domain.codec.checks import (
    KIND_BY_NUMBER,
    STATUS_BY_NUMBER,
    check_attribute_count,
    check_text,
    check_values,
    fail,
    over_limit,
    relocate,
)
from pipeline.domain.codec.limits import Limits
from pipeline.domain.codec.otlp_json import MAX_VALUE_DEPTH, resource_service
from pipeline.domain.span import FLAG_SAMPLED, NO_LINKS, Span, SpanLink
from pipeline.errors import DecodeError, RecordError, ValidationError

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)


def parse_request_bytes(data: bytes, lim: Limits) -> list[Span]:
    """The spans of a serialized `ExportTraceServiceRequest`.

    Raises:
        DecodeError: the bytes are not such a message (or hold no resource spans at all).
        ValidationError, LimitExceededError: a span is invalid; the message names its place.
    """
    try:
        request = ExportTraceServiceRequest.FromString(data)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"not an OTLP protobuf ExportTraceServiceRequest ({exc})") from None
    if data and not request.resource_spans:
        raise DecodeError("not an OTLP protobuf ExportTraceServiceRequest (no resourceSpans in it)")
    total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if total > lim.max_spans_per_record:
        raise over_limit("resourceSpans", total, "spans", lim.max_spans_per_record, "max_spans_per_record")
    out: list[Span] = []
    for i, resource_spans in enumerate(request.resource_spans):
        where = f"resourceSpans[{i}]"
        try:
            resource = key_values(resource_spans.resource.attributes, "resource.attributes")
            service = resource_service(resource)
            check_values(resource, lim.max_attribute_value_bytes, "resource.attributes")
        except RecordError as exc:
            raise relocate(exc, where) from None
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            for k, span in enumerate(scope_spans.spans):
                try:
                    out.append(_span(span, resource, service, lim))
                except RecordError as exc:
                    raise relocate(exc, f"{where}.scopeSpans[{j}].spans[{k}]") from None
    return out


def _hex_id(raw: bytes, zero: bytes, field: str) -> str:
    if len(raw) != len(zero):
        raise fail(ValidationError, field, f"must be {len(zero)} bytes, got {len(raw)}")
    if raw == zero:
        raise fail(ValidationError, field, "must not be all zeros")
    return raw.hex()


def _span(span: Any, resource: dict[str, Any], service: str, lim: Limits) -> Span:
    # The valid case is tested inline (each protobuf field read costs an object); `_hex_id` and
    # `check_text` run only to normalise or to raise.
    raw_trace, raw_span, raw_parent = span.trace_id, span.span_id, span.parent_span_id
    if len(raw_trace) != 16 or len(raw_span) != 8 or raw_trace == _ZERO_TRACE_ID or raw_span == _ZERO_SPAN_ID:
        _hex_id(raw_trace, _ZERO_TRACE_ID, "traceId")
        _hex_id(raw_span, _ZERO_SPAN_ID, "spanId")
    parent = None
    if raw_parent and raw_parent != _ZERO_SPAN_ID:
        parent = _hex_id(raw_parent, _ZERO_SPAN_ID, "parentSpanId")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start:
        raise fail(ValidationError, "startTimeUnixNano", "required (0 means not set in OTLP)")
    if not end:
        raise fail(ValidationError, "endTimeUnixNano", "required (0 means not set in OTLP)")
    if end < start:
        raise fail(ValidationError, "endTimeUnixNano", f"{end} is before startTimeUnixNano {start}")
    kind = KIND_BY_NUMBER.get(span.kind)
    if kind is None:
        raise fail(ValidationError, "kind", f"must be 0-5, got {span.kind}")
    status = span.status
    code = STATUS_BY_NUMBER.get(status.code)
    if code is None:
        raise fail(ValidationError, "status.code", f"must be 0-2, got {status.code}")
    max_bytes = lim.max_attribute_value_bytes
    name, message, trace_state = span.name, status.message, span.trace_state
    if len(name) > lim.max_name_bytes >> 2:
        check_text(name, "name", lim.max_name_bytes)
    if len(message) > max_bytes >> 2:
        check_text(message, "status.message", max_bytes)
    if len(trace_state) > max_bytes >> 2:
        check_text(trace_state, "traceState", max_bytes)
    attributes = key_values(span.attributes, "attributes")
    if len(attributes) + len(resource) > lim.max_attributes_per_span:
        check_attribute_count(len(attributes), len(resource), lim.max_attributes_per_span, "attributes")
    if attributes and len(dumps(attributes)) > max_bytes:  # all values together within the limit: each is
        check_values(attributes, max_bytes, "attributes")
    links = span.links
    if len(links) > lim.max_links_per_span:
        raise over_limit("links", len(links), "links", lim.max_links_per_span, "max_links_per_span")
    span_links = [_link(link, f"links[{i}]", lim) for i, link in enumerate(links)] if links else NO_LINKS
    flags = span.flags  # read as otlp_flags does, inline
    return Span(
        raw_trace.hex(), raw_span.hex(), name, start, end, service, parent, kind, code, message,
        resource, attributes, span_links, trace_state, flags | FLAG_SAMPLED if not flags & 0xFF else flags,
    )  # fmt: skip


def _link(link: Any, field: str, lim: Limits) -> SpanLink:
    attributes = key_values(link.attributes, f"{field}.attributes")
    check_attribute_count(len(attributes), 0, lim.max_attributes_per_span, f"{field}.attributes")
    check_values(attributes, lim.max_attribute_value_bytes, f"{field}.attributes")
    return SpanLink(
        _hex_id(link.trace_id, _ZERO_TRACE_ID, f"{field}.traceId"),
        _hex_id(link.span_id, _ZERO_SPAN_ID, f"{field}.spanId"),
        attributes,
        check_text(link.trace_state, f"{field}.traceState", lim.max_attribute_value_bytes),
    )


def key_values(items: Any, field: str, depth: int = 0) -> dict[str, Any]:
    """A dict from repeated `KeyValue` messages; later keys win."""
    out: dict[str, Any] = {}
    for kv in items:
        value = kv.value
        which = value.WhichOneof("value")
        if which in _SCALARS:
            out[kv.key] = getattr(value, which)
        else:
            key = kv.key
            out[key] = any_value(value, f"{field}[{key!r}]", depth)
    return out


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def any_value(value: Any, field: str, depth: int = 0) -> Any:
    """A plain JSON value from an `AnyValue` message; bytes become base64 text."""
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which in ("array_value", "kvlist_value"):
        if depth >= MAX_VALUE_DEPTH:
            raise fail(ValidationError, field, f"nested more than {MAX_VALUE_DEPTH} levels deep")
        if which == "array_value":
            return [
                any_value(item, f"{field}[{i}]", depth + 1) for i, item in enumerate(value.array_value.values)
            ]
        return key_values(value.kvlist_value.values, field, depth + 1)
    return None  # unset, or a profiling-only string-table reference
