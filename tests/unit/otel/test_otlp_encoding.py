"""OTLP protobuf and OTLP/JSON records of SDK spans, as the Collector's kafka exporter writes them."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pipeline.adapters.otel.otlp import encode

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


def _two_spans(tracing):
    linked = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(1))
    parent = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=True, trace_flags=TraceFlags(1)))
    )
    with tracing.tracer.start_as_current_span(
        "srv", context=parent, kind=SpanKind.SERVER, links=[Link(linked)]
    ) as s:
        s.set_status(Status(StatusCode.ERROR, "boom"))
        with tracing.tracer.start_as_current_span("inner"):
            pass
    return tracing.spans()


def test_protobuf_record_keeps_ids_parent_and_sampled_flag(tracing) -> None:
    """Protobuf keeps ids and parent; flags carry the sampled bit plus the is_remote bits."""
    spans = _two_spans(tracing)
    request = ExportTraceServiceRequest.FromString(encode(spans, "otlp_proto"))
    out = {s.name: s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    srv = out["srv"]
    assert srv.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert srv.parent_span_id.hex() == "00f067aa0ba902b7"
    # bit 0 sampled (W3C), 0x100 "has is_remote", 0x200 "parent is remote" (SpanFlags in trace.proto)
    assert srv.flags == 0x301
    assert out["inner"].flags == 0x101
    assert out["inner"].parent_span_id == srv.span_id
    assert srv.links[0].flags == 0x301
    assert srv.kind == 2 and srv.status.code == 2


def test_unsampled_spans_have_flag_bit_zero_clear() -> None:
    """A span recorded but not sampled (exported by an export-everything processor) keeps sampled=0."""

    class RecordOnly(Sampler):
        def should_sample(self, *args, **kwargs):
            return SamplingResult(Decision.RECORD_ONLY)

        def get_description(self) -> str:
            return "record-only"

    provider = TracerProvider(sampler=RecordOnly())
    with provider.get_tracer("t").start_as_current_span("x") as span:
        pass
    request = ExportTraceServiceRequest.FromString(encode([span], "otlp_proto"))
    flags = request.resource_spans[0].scope_spans[0].spans[0].flags
    assert flags & 0x01 == 0  # not sampled
    assert flags & 0x100  # has is_remote


def test_json_record_uses_hex_ids_camel_case_and_integer_enums(tracing) -> None:
    """OTLP/JSON: hex trace/span ids (not base64), integer kind and status code, camelCase names."""
    spans = _two_spans(tracing)
    doc = orjson.loads(encode(spans, "otlp_json"))
    out = {s["name"]: s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    srv = out["srv"]
    assert srv["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert srv["parentSpanId"] == "00f067aa0ba902b7"
    assert len(srv["spanId"]) == 16 and int(srv["spanId"], 16) == spans[-1].context.span_id
    assert srv["links"][0]["traceId"] == f"{0xAB:032x}" and srv["links"][0]["spanId"] == f"{0xCD:016x}"
    assert srv["kind"] == 2
    assert srv["status"] == {"code": 2, "message": "boom"}
    assert int(srv["startTimeUnixNano"]) == spans[-1].start_time
    assert doc["resourceSpans"][0]["resource"]["attributes"][0]["key"]


def test_unknown_encoding_is_refused(tracing) -> None:
    """An encoding other than otlp_proto/otlp_json raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="otlp_json"):
        encode(_two_spans(tracing), "avro")  # type: ignore[arg-type]
