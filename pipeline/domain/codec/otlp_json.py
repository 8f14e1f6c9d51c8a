"""OTLP JSON (`{"resourceSpans": [...]}`) as the OpenTelemetry Collector's file and kafka exporters write it.

Per the OTLP/JSON encoding (opentelemetry-proto, docs/specification.md "JSON Protobuf Encoding"):
keys are lowerCamelCase, trace and span ids are hex strings (not base64), 64-bit integers may be
decimal strings, enums may be numbers or names, and fields with default values may be absent.
Span events and dropped counts have no place in the obspipe span and are ignored; so is the
instrumentation scope.
"""

from __future__ import annotations

import math
import re
from typing import Any

from orjson import dumps

from pipeline.domain.codec.checks import (
    HEX16,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    check_attribute_count,
    check_flags,
    check_id,
    check_int64,
    check_kind,
    check_parent_id,
    check_status,
    check_text,
    check_time,
    check_values,
    fail,
    json_type,
    over_limit,
    relocate,
    shown,
)
from pipeline.domain.codec.limits import Limits
from pipeline.domain.span import FLAG_SAMPLED, NO_LINKS, Span, SpanLink, StatusCode
from pipeline.errors import RecordError, ValidationError

# Lower-case trace id, span id and parent span id ("" when absent), joined by dashes.
_IDS = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}-(?:[0-9a-f]{16})?").fullmatch

# OTel resource semantic conventions: a service that sets no name is "unknown_service".
UNKNOWN_SERVICE = "unknown_service"
MAX_VALUE_DEPTH = 32  # nested arrayValue/kvlistValue levels; deeper input is rejected, not recursed
_FLOAT_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def otlp_flags(flags: int) -> int:
    """OTLP span flags with the W3C sampled bit set when the trace-flags byte is empty.

    SDKs (e.g. opentelemetry-python's encoder) fill only the is-remote bits (0x100, 0x200) and
    leave the trace-flags byte 0, and by default only sampled spans are exported; so an empty
    byte is read as "sampled" rather than as "not sampled".
    """
    return flags | FLAG_SAMPLED if not flags & 0xFF else flags


def resource_service(resource: dict[str, Any]) -> str:
    """The resource's service.name, set to "unknown_service" (in `resource` too) when missing."""
    service = resource.get("service.name")
    if service is None or service == "":
        resource["service.name"] = UNKNOWN_SERVICE
        return UNKNOWN_SERVICE
    if service.__class__ is not str:
        raise fail(
            ValidationError, "resource.attributes['service.name']", f"must be a string, got {shown(service)}"
        )
    return str(service)


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if value.__class__ is not list:
        raise fail(ValidationError, field, f"must be an array, got {json_type(value)}")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if value.__class__ is not dict:
        raise fail(ValidationError, field, f"must be an object, got {json_type(value)}")
    return value


def any_value(value: Any, field: str, depth: int = 0) -> Any:
    """A plain JSON value from an OTLP `AnyValue` object (`{"stringValue": "x"}` -> "x")."""
    if value is None:
        return None
    if value.__class__ is not dict:
        raise fail(ValidationError, field, f"must be an AnyValue object, got {json_type(value)}")
    if not value:
        return None  # an empty AnyValue is OTLP's null
    for key, inner in value.items():
        if key == "stringValue":
            if inner.__class__ is str:
                return inner
        elif key == "intValue":
            return check_int64(inner, f"{field}.intValue")
        elif key == "boolValue":
            if inner.__class__ is bool:
                return inner
        elif key == "doubleValue":
            if inner.__class__ in (int, float) and inner.__class__ is not bool:
                return float(inner)
            if inner.__class__ is str and inner in _FLOAT_NAMES:
                return _FLOAT_NAMES[inner]
        elif key == "bytesValue":
            if inner.__class__ is str:
                return inner  # base64 text, kept as it is: JSON has no bytes
        elif key in ("arrayValue", "kvlistValue"):
            if depth >= MAX_VALUE_DEPTH:
                raise fail(ValidationError, field, f"nested more than {MAX_VALUE_DEPTH} levels deep")
            items = _list(_object(inner, f"{field}.{key}").get("values"), f"{field}.{key}.values")
            if key == "arrayValue":
                return [
                    any_value(item, f"{field}.arrayValue.values[{i}]", depth + 1)
                    for i, item in enumerate(items)
                ]
            return key_values(items, f"{field}.kvlistValue.values", depth + 1)
        else:
            continue  # an unknown key: the OTLP/JSON spec says receivers ignore it
        raise fail(ValidationError, f"{field}.{key}", f"has the wrong type: {shown(inner)}")
    raise fail(ValidationError, field, f"has no known value key, got keys {shown(sorted(value))}")


def key_values(items: Any, field: str, depth: int = 0) -> dict[str, Any]:
    """A dict from an OTLP `KeyValue` array (`[{"key": k, "value": AnyValue}]`); later keys win."""
    out: dict[str, Any] = {}
    for i, item in enumerate(_list(items, field)):
        if item.__class__ is not dict:
            raise fail(ValidationError, f"{field}[{i}]", f"must be a KeyValue object, got {json_type(item)}")
        key = item.get("key")
        if key.__class__ is not str:
            raise fail(ValidationError, f"{field}[{i}].key", f"must be a string, got {shown(key)}")
        value = item.get("value")
        # Most values are one string: take those without building the field path for errors.
        inner = value.get("stringValue") if value.__class__ is dict and len(value) == 1 else None
        out[key] = inner if inner.__class__ is str else any_value(value, f"{field}[{i}].value", depth)
    return out


def parse_request(doc: dict[str, Any], lim: Limits) -> list[Span]:
    """The spans of an OTLP JSON `ExportTraceServiceRequest`; errors name the place of the field."""
    out: list[Span] = []
    for i, resource_spans in enumerate(_list(doc.get("resourceSpans"), "resourceSpans")):
        where = f"resourceSpans[{i}]"
        try:
            out.extend(_resource_spans(_object(resource_spans, ""), lim, len(out)))
        except RecordError as exc:
            raise relocate(exc, where) from None
    return out


def _resource_spans(resource_spans: dict[str, Any], lim: Limits, n_before: int) -> list[Span]:
    resource = key_values(
        _object(resource_spans.get("resource"), "resource").get("attributes"), "resource.attributes"
    )
    service = resource_service(resource)
    check_values(resource, lim.max_attribute_value_bytes, "resource.attributes")
    scopes = resource_spans.get("scopeSpans")
    key = "scopeSpans"
    if scopes is None:  # the name before OTLP 0.15, still written by old exporters
        scopes, key = resource_spans.get("instrumentationLibrarySpans"), "instrumentationLibrarySpans"
    out: list[Span] = []
    for j, scope_spans in enumerate(_list(scopes, key)):
        spans = _list(_object(scope_spans, f"{key}[{j}]").get("spans"), f"{key}[{j}].spans")
        if n_before + len(out) + len(spans) > lim.max_spans_per_record:
            raise over_limit(
                f"{key}[{j}].spans",
                n_before + len(out) + len(spans),
                "spans so far",
                lim.max_spans_per_record,
                "max_spans_per_record",
            )
        for k, span in enumerate(spans):
            try:
                out.append(_span(span, resource, service, lim))
            except RecordError as exc:
                raise relocate(exc, f"{key}[{j}].spans[{k}]") from None
    return out


def _span(obj: Any, resource: dict[str, Any], service: str, lim: Limits) -> Span:
    span = _object(obj, "")
    get = span.get
    trace_id: Any = get("traceId")
    span_id: Any = get("spanId")
    parent: Any = get("parentSpanId")
    joined = f"{trace_id}-{span_id}-{parent or ''}"
    if (
        not _IDS(joined)
        or trace_id.__class__ is not str  # a number's digits would pass the regex
        or span_id.__class__ is not str
        or trace_id == ZERO_TRACE_ID
        or span_id == ZERO_SPAN_ID
    ):
        trace_id = check_id(trace_id, 32, "traceId")
        span_id = check_id(span_id, 16, "spanId")
    if parent is not None and (parent.__class__ is not str or not HEX16(parent) or parent == ZERO_SPAN_ID):
        parent = check_parent_id(parent, "parentSpanId")
    elif parent == "":
        parent = None
    name = check_text(get("name", ""), "name", lim.max_name_bytes)
    start = _time(get("startTimeUnixNano"), "startTimeUnixNano")
    end = _time(get("endTimeUnixNano"), "endTimeUnixNano")
    if end < start:
        raise fail(ValidationError, "endTimeUnixNano", f"{end} is before startTimeUnixNano {start}")
    attributes = key_values(get("attributes"), "attributes")
    check_attribute_count(len(attributes), len(resource), lim.max_attributes_per_span, "attributes")
    if attributes and len(dumps(attributes)) > lim.max_attribute_value_bytes:  # else each value fits
        check_values(attributes, lim.max_attribute_value_bytes, "attributes")
    status = _object(get("status"), "status")
    code: StatusCode = check_status(status.get("code"), "status.code")
    message = check_text(status.get("message", ""), "status.message", lim.max_attribute_value_bytes)
    links = _list(get("links"), "links")
    if len(links) > lim.max_links_per_span:
        raise over_limit("links", len(links), "links", lim.max_links_per_span, "max_links_per_span")
    flags = get("flags")
    return Span(
        trace_id, span_id, name, start, end, service, parent, check_kind(get("kind"), "kind"), code, message,
        resource, attributes,
        [_link(link, f"links[{i}]", lim) for i, link in enumerate(links)] if links else NO_LINKS,
        check_text(get("traceState", ""), "traceState", lim.max_attribute_value_bytes),
        FLAG_SAMPLED if flags is None else otlp_flags(check_flags(flags, "flags")),
    )  # fmt: skip


def _time(value: Any, field: str) -> int:
    """OTLP times are required; 0 is the proto default and so means "not set"."""
    number = check_time(value, field)
    if number == 0:
        raise fail(ValidationError, field, "required (0 means not set in OTLP)")
    return number


def _link(obj: Any, field: str, lim: Limits) -> SpanLink:
    link = _object(obj, field)
    attributes = key_values(link.get("attributes"), f"{field}.attributes")
    check_attribute_count(len(attributes), 0, lim.max_attributes_per_span, f"{field}.attributes")
    check_values(attributes, lim.max_attribute_value_bytes, f"{field}.attributes")
    return SpanLink(
        check_id(link.get("traceId"), 32, f"{field}.traceId"),
        check_id(link.get("spanId"), 16, f"{field}.spanId"),
        attributes,
        check_text(link.get("traceState", ""), f"{field}.traceState", lim.max_attribute_value_bytes),
    )
