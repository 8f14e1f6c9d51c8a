"""Build OTLP `ExportTraceServiceRequest`s from obspipe spans, as the Collector's kafka exporter
writes them (encoding `otlp_proto`: one serialized request per Kafka record).

For tests and benchmarks: it covers the span fields obspipe reads (ids, parent, name, kind,
times, status, resource and span attributes of scalar types, links, trace state, flags).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from pipeline.domain.span import Span

_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def any_value(value: Any) -> AnyValue:
    """An OTLP AnyValue for a plain Python value (bool, int, float, bytes, list, dict, else str)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(value)))
    return AnyValue(string_value=str(value))


def attributes(attrs: dict[str, Any]) -> list[KeyValue]:
    """OTLP KeyValues for a flat or nested attribute dict."""
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def otlp_request(spans: Sequence[Span]) -> ExportTraceServiceRequest:
    """One request holding `spans`, one ResourceSpans per distinct resource, in input order."""
    request = ExportTraceServiceRequest()
    by_resource: dict[tuple[tuple[str, str], ...], ResourceSpans] = {}
    for span in spans:
        resource = {"service.name": span.service_name, **span.resource}
        key = tuple(sorted((k, repr(v)) for k, v in resource.items()))
        rs = by_resource.get(key)
        if rs is None:
            rs = request.resource_spans.add()
            rs.resource.attributes.extend(attributes(resource))
            rs.scope_spans.add()
            by_resource[key] = rs
        pb = rs.scope_spans[0].spans.add()
        pb.trace_id = bytes.fromhex(span.trace_id)
        pb.span_id = bytes.fromhex(span.span_id)
        if span.parent_span_id:
            pb.parent_span_id = bytes.fromhex(span.parent_span_id)
        pb.name = span.name
        pb.kind = PbSpan.SpanKind.ValueType(_KINDS[span.kind])
        pb.start_time_unix_nano = span.start_time_unix_nano
        pb.end_time_unix_nano = span.end_time_unix_nano
        pb.status.CopyFrom(
            Status(code=Status.StatusCode.ValueType(_STATUS[span.status_code]), message=span.status_message)
        )
        pb.attributes.extend(attributes(span.attributes))
        pb.trace_state = span.trace_state
        pb.flags = span.flags
        for link in span.links:
            pl = pb.links.add()
            pl.trace_id = bytes.fromhex(link.trace_id)
            pl.span_id = bytes.fromhex(link.span_id)
            pl.attributes.extend(attributes(link.attributes))
    return request


def otlp_request_bytes(spans: Sequence[Span]) -> bytes:
    """`otlp_request(spans)` serialized: the value the Collector's kafka exporter produces."""
    data: bytes = otlp_request(spans).SerializeToString()
    return data
