"""OTLP JSON and OTLP protobuf decoding: Collector-shaped input, SDK-encoded spans, and their errors."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from codec_samples import (
    LINKED_SPAN_ID,
    LINKED_TRACE_ID,
    OTLP_RESOURCE,
    OTLP_TRACE_ID,
    otlp_json_request,
    otlp_proto_request,
)
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as otel_encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from pipeline.domain.codec import Limits, decode_spans
from pipeline.domain.span import Span, SpanLink
from pipeline.errors import DecodeError, LimitExceededError, ValidationError

PREFIX = "resourceSpans[0].scopeSpans[0].spans[0]"

# The two spans of codec_samples.OTLP_JSON_REQUEST, worked out by hand from the OTLP/JSON rules.
EXPECTED = [
    Span(
        trace_id=OTLP_TRACE_ID,
        span_id="eee19b7ec3c1b174",
        name="POST /checkout",
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        service_name="checkout",
        parent_span_id=None,
        kind="SERVER",
        status_code="ERROR",
        status_message="payment declined",
        resource=OTLP_RESOURCE,
        attributes={
            "http.route": "/checkout",
            "http.response.status_code": 500,
            "retry.ratio": 0.25,
            "cache.hit": False,
            "items": ["a", 2],
            "user": {"tier": "gold"},
            "payload": "AAEC",
        },
        links=[SpanLink(LINKED_TRACE_ID, LINKED_SPAN_ID, {"messaging.batch": True}, "congo=t61rcWkgMzE")],
        trace_state="",
        flags=769,
    ),
    Span(
        trace_id=OTLP_TRACE_ID,
        span_id="1111111111111111",
        name="SELECT orders",
        start_time_unix_nano=1544712660100000000,
        end_time_unix_nano=1544712660200000000,
        service_name="checkout",
        parent_span_id="eee19b7ec3c1b174",
        kind="CLIENT",
        resource=OTLP_RESOURCE,
        flags=1,
    ),
]


def _first_span(request: dict[str, Any]) -> dict[str, Any]:
    span: dict[str, Any] = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    return span


def test_collector_otlp_json_decodes_to_expected_spans() -> None:
    """Collector-shaped OTLP JSON decodes: hex ids lowered, string times, flattened values, links."""
    assert decode_spans(orjson.dumps(otlp_json_request())) == EXPECTED


def test_otlp_json_accepts_enum_names_and_numeric_times() -> None:
    """SPAN_KIND_* and STATUS_CODE_* names, and times given as JSON numbers, are accepted too."""
    request = otlp_json_request()
    span = _first_span(request)
    span.update(
        kind="SPAN_KIND_PRODUCER", status={"code": "STATUS_CODE_OK"}, startTimeUnixNano=5, endTimeUnixNano=9
    )
    decoded = decode_spans(orjson.dumps(request))[0]
    assert (decoded.kind, decoded.status_code, decoded.start_time_unix_nano, decoded.end_time_unix_nano) == (
        "PRODUCER",
        "OK",
        5,
        9,
    )


def test_missing_service_name_becomes_unknown_service() -> None:
    """Without a service.name resource attribute the OTel convention "unknown_service" is used."""
    request = otlp_json_request()
    del request["resourceSpans"][0]["resource"]
    spans = decode_spans(orjson.dumps(request))
    assert {s.service_name for s in spans} == {"unknown_service"}
    assert spans[0].resource == {"service.name": "unknown_service"}


@pytest.mark.parametrize(
    ("flags", "expected"), [(None, 1), (0, 1), (256, 257), (768, 769), (0x301, 0x301), (2, 2)]
)
def test_otlp_flags_without_trace_flags_byte_mean_sampled(flags: int | None, expected: int) -> None:
    """OTLP flags whose W3C byte is 0 (absent, or only the is-remote bits) are read as sampled."""
    request = otlp_json_request()
    span = _first_span(request)
    if flags is None:
        del span["flags"]
    else:
        span["flags"] = flags
    assert decode_spans(orjson.dumps(request))[0].flags == expected


def test_non_string_service_name_is_rejected() -> None:
    """A service.name resource attribute that is not a string is named as the bad field."""
    request = otlp_json_request()
    request["resourceSpans"][0]["resource"]["attributes"][0]["value"] = {"intValue": "7"}
    with pytest.raises(
        ValidationError, match=r"^resourceSpans\[0\]\.resource\.attributes\['service\.name'\]: must be"
    ):
        decode_spans(orjson.dumps(request))


def test_legacy_instrumentation_library_spans_key() -> None:
    """Old exporters' instrumentationLibrarySpans is read like scopeSpans."""
    request = otlp_json_request()
    resource_spans = request["resourceSpans"][0]
    resource_spans["instrumentationLibrarySpans"] = resource_spans.pop("scopeSpans")
    assert decode_spans(orjson.dumps(request)) == EXPECTED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"traceId": "W47/95gDgQPSabYzgT/GDA=="}, f"{PREFIX}.traceId: must be 32 hex characters"),  # base64
        ({"traceId": "0" * 32}, f"{PREFIX}.traceId: must not be all zeros"),
        ({"spanId": None}, f"{PREFIX}.spanId: required"),
        ({"parentSpanId": "abc"}, f"{PREFIX}.parentSpanId: must be 16 hex characters"),
        ({"startTimeUnixNano": None}, f"{PREFIX}.startTimeUnixNano: required"),
        ({"startTimeUnixNano": "0"}, f"{PREFIX}.startTimeUnixNano: required (0 means not set in OTLP)"),
        (
            {"endTimeUnixNano": "1544712659000000000"},
            f"{PREFIX}.endTimeUnixNano: 1544712659000000000 is before",
        ),
        ({"kind": 9}, f"{PREFIX}.kind: must be one of"),
        ({"status": {"code": 3}}, f"{PREFIX}.status.code: must be one of UNSET, OK, ERROR"),
        ({"attributes": {}}, f"{PREFIX}.attributes: must be an array, got object"),
        (
            {"attributes": [{"key": "n", "value": {"intValue": "12x"}}]},
            f"{PREFIX}.attributes[0].value.intValue: must be a 64-bit integer",
        ),
        ({"attributes": [{"value": {"boolValue": True}}]}, f"{PREFIX}.attributes[0].key: must be a string"),
        (
            {"attributes": [{"key": "b", "value": {"boolValue": "yes"}}]},
            f"{PREFIX}.attributes[0].value.boolValue",
        ),
        (
            {"links": [{"traceId": "x", "spanId": LINKED_SPAN_ID}]},
            f"{PREFIX}.links[0].traceId: must be 32 hex",
        ),
        ({"flags": -3}, f"{PREFIX}.flags: must be an integer"),
        ({"spanId": 1234567890123456}, f"{PREFIX}.spanId: must be a string of 16 hex characters, got number"),
    ],
)
def test_otlp_json_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    """A bad OTLP JSON span is rejected with its full path and the reason."""
    request = otlp_json_request()
    _first_span(request).update(change)
    with pytest.raises(ValidationError) as info:
        decode_spans(orjson.dumps(request))
    assert str(info.value).startswith(message)


def test_otlp_json_structure_errors() -> None:
    """A resourceSpans that is not an array, or a span that is not an object, is named."""
    with pytest.raises(ValidationError, match=r"^resourceSpans: must be an array, got object$"):
        decode_spans(b'{"resourceSpans": {}}')
    with pytest.raises(
        ValidationError, match=r"^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]: must be an object"
    ):
        decode_spans(b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}')


def test_otlp_json_limits_name_the_attribute() -> None:
    """Attribute size and span count limits apply to OTLP JSON, naming the attribute key."""
    request = otlp_json_request()
    _first_span(request)["attributes"] = [{"key": "big", "value": {"stringValue": "x" * 40}}]
    with pytest.raises(LimitExceededError) as info:
        decode_spans(orjson.dumps(request), limits=Limits(max_attribute_value_bytes=32))
    assert str(info.value).startswith(
        f"{PREFIX}.attributes['big']: value is 40 bytes, more than the limit of 32"
    )
    with pytest.raises(LimitExceededError, match=r"max_spans_per_record"):
        decode_spans(orjson.dumps(otlp_json_request()), limits=Limits(max_spans_per_record=1))


def test_otlp_proto_decodes_like_the_same_otlp_json() -> None:
    """The protobuf form of the sample decodes to the same spans as its JSON form (bytes -> base64)."""
    data = otlp_proto_request().SerializeToString()
    assert base64.b64encode(b"\x00\x01\x02") == b"AAEC"
    assert decode_spans(data) == EXPECTED
    assert decode_spans(data, content_type="application/x-protobuf") == EXPECTED
    assert decode_spans(data, content_type="otlp_proto") == EXPECTED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trace_id": b"\x01" * 5}, f"{PREFIX}.traceId: must be 16 bytes, got 5"),
        ({"span_id": bytes(8)}, f"{PREFIX}.spanId: must not be all zeros"),
        ({"parent_span_id": b"\x01\x02"}, f"{PREFIX}.parentSpanId: must be 8 bytes, got 2"),
        ({"start_time_unix_nano": 0}, f"{PREFIX}.startTimeUnixNano: required"),
        ({"end_time_unix_nano": 1}, f"{PREFIX}.endTimeUnixNano: 1 is before startTimeUnixNano"),
        ({"kind": 7}, f"{PREFIX}.kind: must be 0-5, got 7"),
    ],
)
def test_otlp_proto_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    """A bad OTLP protobuf span is rejected with its path and the reason."""
    request = otlp_proto_request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for key, value in change.items():
        setattr(span, key, value)
    with pytest.raises(ValidationError) as info:
        decode_spans(request.SerializeToString(), content_type="application/x-protobuf")
    assert str(info.value).startswith(message)


def test_otlp_proto_garbage_with_content_type_is_a_decode_error() -> None:
    """Bytes labelled protobuf that do not parse as an ExportTraceServiceRequest raise DecodeError."""
    with pytest.raises(DecodeError, match="not an OTLP protobuf ExportTraceServiceRequest"):
        decode_spans(b"\x0a\xff\xff\xff", content_type="application/x-protobuf")
    with pytest.raises(DecodeError, match="no resourceSpans"):
        decode_spans(b"\x10\x01", content_type="application/x-protobuf")


def _sdk_spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "host.name": "web-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span(
            "publish", kind=SpanKind.PRODUCER, links=[Link(root.get_span_context(), {"why": "demo"})]
        ) as child:
            child.set_status(Status(StatusCode.ERROR, "broker down"))
    return list(exporter.get_finished_spans())


def _hex_ids(obj: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON (and the Collector) write ids as hex."""
    if isinstance(obj, dict):
        return {
            k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else _hex_ids(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_hex_ids(v) for v in obj]
    return obj


def test_sdk_spans_as_otlp_json_decode_like_their_protobuf() -> None:
    """SDK spans written as OTLP JSON the Collector way (hex ids, string int64s) decode like the protobuf."""
    request = otel_encode_spans(_sdk_spans())
    as_json = _hex_ids(json_format.MessageToDict(request))
    assert isinstance(as_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"], str)
    from_json = decode_spans(orjson.dumps(as_json))
    assert len(from_json) == 2
    assert from_json == decode_spans(request.SerializeToString())


def test_sdk_spans_encoded_by_the_otlp_exporter_decode_faithfully() -> None:
    """SDK spans encoded by the OTel OTLP encoder keep their ids, tree, kinds, status and links."""
    finished = _sdk_spans()
    data = otel_encode_spans(finished).SerializeToString()

    decoded = {s.name: s for s in decode_spans(data)}
    sdk = {s.name: s for s in finished}
    assert set(decoded) == {"root", "publish"}
    for name, span in decoded.items():
        context = sdk[name].context
        assert span.trace_id == f"{context.trace_id:032x}"
        assert span.span_id == f"{context.span_id:016x}"
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
            sdk[name].start_time,
            sdk[name].end_time,
        )
        assert span.service_name == "shop"
        assert span.host == "web-1"
        assert span.sampled
    root_id = decoded["root"].span_id
    assert decoded["root"].parent_span_id is None
    assert decoded["publish"].parent_span_id == root_id
    assert (decoded["root"].kind, decoded["publish"].kind) == ("SERVER", "PRODUCER")
    assert decoded["root"].attributes == {"http.response.status_code": 200}
    assert (decoded["publish"].status_code, decoded["publish"].status_message) == ("ERROR", "broker down")
    assert decoded["publish"].links == [SpanLink(decoded["root"].trace_id, root_id, {"why": "demo"}, "")]
