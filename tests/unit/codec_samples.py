"""Inputs shared by the codec tests: valid spans in each format and hypothesis strategies."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from pipeline.domain.span import SPAN_KINDS, STATUS_CODES, Span, SpanLink
from pipeline.testing.otlp import attributes as otlp_attributes

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PARENT_ID = "53995c3f42cd8ad8"
LINKED_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
LINKED_SPAN_ID = "b7ad6b7169203331"
START = 1_700_000_000_000_000_000
END = 1_700_000_000_012_345_678


def span_dict(**overrides: Any) -> dict[str, Any]:
    """A complete, valid obspipe span object; keyword arguments replace (or, with None, keep) fields."""
    obj: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "parent_span_id": PARENT_ID,
        "name": "GET /orders/{id}",
        "kind": "SERVER",
        "start_time_unix_nano": START,
        "end_time_unix_nano": END,
        "status": {"code": "ERROR", "message": "upstream timeout"},
        "resource": {"service.name": "orders", "host.name": "orders-1"},
        "attributes": {"http.request.method": "GET", "http.response.status_code": 504},
        "links": [{"trace_id": LINKED_TRACE_ID, "span_id": LINKED_SPAN_ID, "attributes": {"k": "v"}}],
        "trace_state": "vendor=abc",
        "flags": 1,
    }
    obj.update(overrides)
    return obj


def minimal_span_dict() -> dict[str, Any]:
    """Only the required fields of an obspipe span."""
    return {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "name": "work",
        "start_time_unix_nano": 10,
        "end_time_unix_nano": 25,
        "resource": {"service.name": "worker"},
    }


# An ExportTraceServiceRequest in OTLP JSON, written by hand from the OTLP/JSON encoding rules as
# the Collector's file and kafka (otlp_json) exporters produce it: lowerCamelCase keys, hex ids,
# 64-bit integers as strings, enums as integers, default values omitted.
OTLP_JSON_REQUEST: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "checkout"}},
                    {"key": "host.name", "value": {"stringValue": "node-7"}},
                ]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "io.opentelemetry.http", "version": "1.2.0"},
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "",
                            "name": "POST /checkout",
                            "kind": 2,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [
                                {"key": "http.route", "value": {"stringValue": "/checkout"}},
                                {"key": "http.response.status_code", "value": {"intValue": "500"}},
                                {"key": "retry.ratio", "value": {"doubleValue": 0.25}},
                                {"key": "cache.hit", "value": {"boolValue": False}},
                                {
                                    "key": "items",
                                    "value": {
                                        "arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}
                                    },
                                },
                                {
                                    "key": "user",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [{"key": "tier", "value": {"stringValue": "gold"}}]
                                        }
                                    },
                                },
                                {"key": "payload", "value": {"bytesValue": "AAEC"}},
                            ],
                            "droppedAttributesCount": 1,
                            "events": [{"timeUnixNano": "1544712660500000000", "name": "retry"}],
                            "links": [
                                {
                                    "traceId": LINKED_TRACE_ID,
                                    "spanId": LINKED_SPAN_ID,
                                    "traceState": "congo=t61rcWkgMzE",
                                    "attributes": [{"key": "messaging.batch", "value": {"boolValue": True}}],
                                }
                            ],
                            "status": {"code": 2, "message": "payment declined"},
                            "flags": 769,
                        },
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "1111111111111111",
                            "parentSpanId": "eee19b7ec3c1b174",
                            "name": "SELECT orders",
                            "kind": 3,
                            "startTimeUnixNano": "1544712660100000000",
                            "endTimeUnixNano": "1544712660200000000",
                            "status": {},
                        },
                    ],
                }
            ],
        }
    ]
}


def otlp_json_request() -> dict[str, Any]:
    """A fresh deep copy of `OTLP_JSON_REQUEST`, safe to mutate."""
    return copy.deepcopy(OTLP_JSON_REQUEST)


OTLP_TRACE_ID = "5b8efff798038103d269b633813fc60c"
OTLP_RESOURCE = {"service.name": "checkout", "host.name": "node-7"}


def otlp_proto_request() -> ExportTraceServiceRequest:
    """The same request as codec_samples.OTLP_JSON_REQUEST, built with the protobuf classes."""
    attributes = {
        "http.route": "/checkout",
        "http.response.status_code": 500,
        "retry.ratio": 0.25,
        "cache.hit": False,
        "items": ["a", 2],
        "user": {"tier": "gold"},
        "payload": b"\x00\x01\x02",
    }
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        otlp_attributes(OTLP_RESOURCE)
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "io.opentelemetry.http"
    first = scope_spans.spans.add(
        trace_id=bytes.fromhex(OTLP_TRACE_ID),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        name="POST /checkout",
        kind=2,
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        flags=769,
    )
    first.attributes.extend(otlp_attributes(attributes))
    first.status.code = 2
    first.status.message = "payment declined"
    link = first.links.add(
        trace_id=bytes.fromhex(LINKED_TRACE_ID),
        span_id=bytes.fromhex(LINKED_SPAN_ID),
        trace_state="congo=t61rcWkgMzE",
    )
    link.attributes.append(KeyValue(key="messaging.batch", value=AnyValue(bool_value=True)))
    scope_spans.spans.add(
        trace_id=bytes.fromhex(OTLP_TRACE_ID),
        span_id=bytes.fromhex("1111111111111111"),
        parent_span_id=bytes.fromhex("eee19b7ec3c1b174"),
        name="SELECT orders",
        kind=3,
        start_time_unix_nano=1544712660100000000,
        end_time_unix_nano=1544712660200000000,
    )
    return request


# --- hypothesis strategies -----------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # JSON text has no lone surrogates


def hex_ids(n_hex: int) -> st.SearchStrategy[str]:
    """Valid lowercase ids of `n_hex` hex characters (never all zeros)."""
    return st.text("0123456789abcdef", min_size=n_hex, max_size=n_hex).filter(lambda s: s != "0" * n_hex)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
attribute_dicts = st.dictionaries(_TEXT, json_values, max_size=4)


@st.composite
def spans(draw: st.DrawFn) -> Span:
    """Valid spans, every field drawn (within the default limits)."""
    service = draw(_TEXT.filter(bool))
    resource = {**draw(attribute_dicts), "service.name": service}
    start = draw(st.integers(0, 2**63))
    links = draw(st.lists(st.builds(SpanLink, hex_ids(32), hex_ids(16), attribute_dicts, _TEXT), max_size=2))
    return Span(
        trace_id=draw(hex_ids(32)),
        span_id=draw(hex_ids(16)),
        name=draw(_TEXT),
        start_time_unix_nano=start,
        end_time_unix_nano=start + draw(st.integers(0, 10**12)),
        service_name=service,
        parent_span_id=draw(st.none() | hex_ids(16)),
        kind=draw(st.sampled_from(SPAN_KINDS)),
        status_code=draw(st.sampled_from(STATUS_CODES)),
        status_message=draw(_TEXT),
        resource=resource,
        attributes=draw(attribute_dicts),
        links=links,
        trace_state=draw(_TEXT),
        flags=draw(st.integers(0, 2**32 - 1)),
    )
