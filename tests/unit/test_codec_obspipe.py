"""The obspipe span JSON codec: accepted variants, every validation rule, limits and round trips."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from codec_samples import (
    END,
    LINKED_SPAN_ID,
    LINKED_TRACE_ID,
    PARENT_ID,
    SPAN_ID,
    START,
    TRACE_ID,
    minimal_span_dict,
    span_dict,
)

from pipeline.domain.codec import (
    DEFAULT_LIMITS,
    Limits,
    decode_bundle,
    decode_spans,
    encode_bundle,
    encode_spans,
    span_from_dict,
    span_to_dict,
)
from pipeline.domain.span import Span, SpanLink
from pipeline.errors import DecodeError, LimitExceededError, ValidationError
from pipeline.settings import load_settings


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def test_full_span_decodes_every_field() -> None:
    """Every field of a complete obspipe span lands in the matching Span field."""
    span = span_from_dict(span_dict())
    assert span == Span(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        name="GET /orders/{id}",
        start_time_unix_nano=START,
        end_time_unix_nano=END,
        service_name="orders",
        parent_span_id=PARENT_ID,
        kind="SERVER",
        status_code="ERROR",
        status_message="upstream timeout",
        resource={"service.name": "orders", "host.name": "orders-1"},
        attributes={"http.request.method": "GET", "http.response.status_code": 504},
        links=[SpanLink(LINKED_TRACE_ID, LINKED_SPAN_ID, {"k": "v"}, "")],
        trace_state="vendor=abc",
        flags=1,
    )
    assert span.host == "orders-1"


def test_minimal_span_gets_documented_defaults() -> None:
    """A span of only the required fields is a sampled INTERNAL root, status UNSET, no attributes or links."""
    span = span_from_dict(minimal_span_dict())
    assert (span.parent_span_id, span.kind, span.status_code, span.status_message) == (
        None,
        "INTERNAL",
        "UNSET",
        "",
    )
    assert (span.attributes, span.links, span.trace_state, span.flags) == ({}, [], "", 1)
    assert span.service_name == "worker"
    assert span.duration_ns == 15


def test_upper_case_ids_are_lowered() -> None:
    """Hex ids in upper case are accepted and stored in lower case (span, parent and link ids)."""
    obj = span_dict(
        trace_id=TRACE_ID.upper(),
        span_id=SPAN_ID.upper(),
        parent_span_id=PARENT_ID.upper(),
        links=[{"trace_id": LINKED_TRACE_ID.upper(), "span_id": LINKED_SPAN_ID.upper()}],
    )
    span = span_from_dict(obj)
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert (span.links[0].trace_id, span.links[0].span_id) == (LINKED_TRACE_ID, LINKED_SPAN_ID)


def test_times_may_be_decimal_strings() -> None:
    """Times given as decimal strings (as OTLP JSON writes them) decode to the same integers."""
    span = span_from_dict(span_dict(start_time_unix_nano=str(START), end_time_unix_nano=str(END)))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (START, END)


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ("SERVER", "SERVER"),
        ("consumer", "CONSUMER"),
        ("SPAN_KIND_CLIENT", "CLIENT"),
        ("SPAN_KIND_UNSPECIFIED", "INTERNAL"),
        (0, "INTERNAL"),
        (1, "INTERNAL"),
        (2, "SERVER"),
        (3, "CLIENT"),
        (4, "PRODUCER"),
        (5, "CONSUMER"),
        (None, "INTERNAL"),
    ],
)
def test_kind_names_and_otlp_numbers(given: Any, kind: str) -> None:
    """Kinds are accepted as names, SPAN_KIND_* names and OTLP numbers 0-5 (0 and 1 mean INTERNAL)."""
    assert span_from_dict(span_dict(kind=given)).kind == kind


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("ERROR", "ERROR"),
        ("ok", "OK"),
        ("STATUS_CODE_OK", "OK"),
        (0, "UNSET"),
        (1, "OK"),
        (2, "ERROR"),
        (None, "UNSET"),
    ],
)
def test_status_code_names_and_otlp_numbers(given: Any, code: str) -> None:
    """Status codes are accepted as names, STATUS_CODE_* names and OTLP numbers 0-2."""
    assert span_from_dict(span_dict(status={"code": given})).status_code == code


@pytest.mark.parametrize("parent", ["", "0000000000000000", None])
def test_empty_zero_or_null_parent_means_root(parent: Any) -> None:
    """A parent id that is "", all zeros or null makes the span a root."""
    assert span_from_dict(span_dict(parent_span_id=parent)).parent_span_id is None
    assert span_from_dict(_without(span_dict(), "parent_span_id")).parent_span_id is None


def test_absent_flags_mean_sampled_and_given_flags_are_kept() -> None:
    """Flags default to sampled (0x01) when absent; a given value, even 0, is kept."""
    assert span_from_dict(_without(span_dict(), "flags")).flags == 1
    assert span_from_dict(span_dict(flags=0)).sampled is False
    assert span_from_dict(span_dict(flags=0x301)).flags == 0x301


def test_unknown_keys_are_ignored() -> None:
    """Extra keys (such as the assembly fields of an assembled span) do not stop decoding."""
    assert span_from_dict(span_dict(depth=3, order=7)).span_id == SPAN_ID


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trace_id": "zz"}, "span.trace_id: must be 32 hex characters, got 'zz'"),
        ({"trace_id": "0" * 32}, "span.trace_id: must not be all zeros"),
        ({"trace_id": 12}, "span.trace_id: must be a string of 32 hex characters, got number"),
        # A number with as many decimal digits as the id has hex characters is still a number.
        ({"span_id": 1234567890123456}, "span.span_id: must be a string of 16 hex characters, got number"),
        ({"parent_span_id": 1234567890123456}, "span.parent_span_id: must be 16 hex characters"),
        ({"trace_id": TRACE_ID[:-1] + "g"}, "span.trace_id: must be 32 hex characters"),
        ({"span_id": SPAN_ID[:15]}, "span.span_id: must be 16 hex characters, got '00f067aa0ba902b'"),
        ({"span_id": "0" * 16}, "span.span_id: must not be all zeros"),
        ({"parent_span_id": "xyz"}, "span.parent_span_id: must be 16 hex characters"),
        ({"name": 5}, "span.name: must be a string, got number"),
        ({"name": None}, "span.name: required"),
        ({"start_time_unix_nano": -1}, "span.start_time_unix_nano: must be a non-negative integer"),
        ({"start_time_unix_nano": 1.5}, "span.start_time_unix_nano: must be a non-negative integer"),
        ({"start_time_unix_nano": "12a"}, "span.start_time_unix_nano: must be a non-negative integer"),
        ({"end_time_unix_nano": True}, "span.end_time_unix_nano: must be a non-negative integer"),
        ({"end_time_unix_nano": 2**64}, "span.end_time_unix_nano: must be a non-negative integer"),
        (
            {"start_time_unix_nano": 10, "end_time_unix_nano": 5},
            "span.end_time_unix_nano: 5 is before start_time_unix_nano 10",
        ),
        ({"resource": None}, "span.resource: required"),
        ({"resource": []}, "span.resource: must be an object, got array"),
        ({"resource": {"host.name": "h"}}, "span.resource.service.name: required"),
        ({"resource": {"service.name": ""}}, "span.resource.service.name: must be a non-empty string"),
        ({"attributes": []}, "span.attributes: must be an object, got array"),
        ({"kind": "SERVERS"}, "span.kind: must be one of INTERNAL, SERVER"),
        ({"kind": True}, "span.kind: must be one of"),
        ({"kind": 6}, "span.kind: must be one of"),
        ({"status": "OK"}, "span.status: must be an object {code, message}, got string"),
        ({"status": {"code": 7}}, "span.status.code: must be one of UNSET, OK, ERROR"),
        ({"status": {"code": "OK", "message": 3}}, "span.status.message: must be a string"),
        ({"links": {}}, "span.links: must be an array, got object"),
        ({"links": [{"trace_id": "nope", "span_id": SPAN_ID}]}, "span.links[0].trace_id: must be 32 hex"),
        ({"links": [{"trace_id": TRACE_ID}]}, "span.links[0].span_id: required"),
        ({"links": [5]}, "span.links[0]: must be an object, got number"),
        ({"trace_state": 1}, "span.trace_state: must be a string"),
        ({"flags": -1}, "span.flags: must be an integer from 0 to 2**32-1"),
        ({"flags": "1"}, "span.flags: must be an integer"),
    ],
)
def test_invalid_field_is_named_with_the_reason(change: dict[str, Any], message: str) -> None:
    """Each validation rule rejects the span with a message naming the field and why."""
    with pytest.raises(ValidationError) as info:
        span_from_dict(span_dict(**change))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "key",
    ["trace_id", "span_id", "name", "start_time_unix_nano", "end_time_unix_nano", "resource"],
)
def test_missing_required_field_is_named(key: str) -> None:
    """Dropping any required field gives "span.<field>: required"."""
    with pytest.raises(ValidationError, match=rf"^span\.{key}: required$") as info:
        span_from_dict(_without(span_dict(), key))
    assert info.value.field == f"span.{key}"
    assert info.value.reason == "validation_error"


def test_not_an_object_is_rejected() -> None:
    """A JSON value that is not an object cannot be a span."""
    with pytest.raises(ValidationError, match=r"^spans\[1\]: must be a JSON object \(a span\), got array$"):
        decode_spans(orjson.dumps([span_dict(), []]))


def test_error_in_an_array_names_the_span_index() -> None:
    """In a JSON array the message names the bad span by its index; the whole record is rejected."""
    items = [span_dict(), span_dict(), span_dict(span_id="zz")]
    with pytest.raises(ValidationError, match=r"^spans\[2\]\.span_id: must be 16 hex characters, got 'zz'$"):
        decode_spans(orjson.dumps(items))


def test_attribute_count_includes_resource_attributes() -> None:
    """Attributes + resource attributes over max_attributes_per_span are rejected; at the limit they pass."""
    limits = Limits(max_attributes_per_span=4)
    at_limit = span_dict(attributes={"a": 1, "b": 2})  # + service.name, host.name = 4
    assert span_from_dict(at_limit, limits=limits).attributes == {"a": 1, "b": 2}
    with pytest.raises(LimitExceededError, match=r"2 attributes \+ 3 resource attributes .* limit of 4"):
        span_from_dict(span_dict(resource={"service.name": "s", "x": 1, "y": 2}), limits=limits)


def test_oversize_attribute_value_names_the_key_in_utf8_bytes() -> None:
    """A string over max_attribute_value_bytes (counted in UTF-8 bytes) is rejected, naming its key."""
    limits = Limits(max_attribute_value_bytes=16)
    ok = span_dict(attributes={"city": "é" * 8}, resource={"service.name": "s"})  # 16 bytes
    assert span_from_dict(ok, limits=limits).attributes["city"] == "é" * 8
    with pytest.raises(LimitExceededError) as info:
        span_from_dict(span_dict(attributes={"city": "é" * 9}, resource={"service.name": "s"}), limits=limits)
    assert str(info.value) == (
        "span.attributes['city']: value is 18 bytes, more than the limit of 16 (max_attribute_value_bytes)"
    )
    assert info.value.reason == "limit_exceeded"


def test_oversize_array_and_resource_values_are_rejected() -> None:
    """Array values count by their JSON size, and resource attributes are limited like span attributes."""
    limits = Limits(max_attribute_value_bytes=20)
    with pytest.raises(LimitExceededError, match=r"^span\.attributes\['ids'\]: value is 23 bytes as JSON"):
        span_from_dict(
            span_dict(attributes={"ids": ["abcdefgh", "ijklmnop"]}), limits=limits
        )  # ["8","8"]: 2 + 2*10 + 1
    with pytest.raises(LimitExceededError, match=r"^span\.resource\['host.name'\]: value is 21 bytes"):
        span_from_dict(span_dict(resource={"service.name": "s", "host.name": "h" * 21}), limits=limits)


def test_status_message_and_trace_state_are_bounded_by_the_value_limit() -> None:
    """A status message or trace state longer than max_attribute_value_bytes is rejected, naming it."""
    limits = Limits(max_attribute_value_bytes=16)
    with pytest.raises(LimitExceededError, match=r"^span\.status\.message: is 17 bytes"):
        span_from_dict(span_dict(status={"code": "ERROR", "message": "m" * 17}), limits=limits)
    with pytest.raises(LimitExceededError, match=r"^span\.trace_state: is 17 bytes"):
        span_from_dict(span_dict(trace_state="t" * 17), limits=limits)


def test_name_and_links_limits() -> None:
    """Names over max_name_bytes and more links than max_links_per_span are rejected."""
    with pytest.raises(LimitExceededError, match=r"^span\.name: is 11 bytes, more than the limit of 10$"):
        span_from_dict(span_dict(name="n" * 11), limits=Limits(max_name_bytes=10))
    link = {"trace_id": LINKED_TRACE_ID, "span_id": LINKED_SPAN_ID}
    with pytest.raises(LimitExceededError, match=r"^span\.links: 3 links is more than the limit of 2"):
        span_from_dict(span_dict(links=[link, link, link]), limits=Limits(max_links_per_span=2))


def test_spans_per_record_limit() -> None:
    """A record with more spans than max_spans_per_record is rejected as a whole."""
    data = orjson.dumps([span_dict()] * 3)
    assert len(decode_spans(data, limits=Limits(max_spans_per_record=3))) == 3
    with pytest.raises(LimitExceededError, match=r"^spans: 3 spans is more than the limit of 2"):
        decode_spans(data, limits=Limits(max_spans_per_record=2))


def test_limits_defaults_equal_settings_defaults() -> None:
    """Limits() and Limits.from_settings(settings) agree with the settings' defaults and overrides."""
    assert Limits.from_settings(load_settings()) == DEFAULT_LIMITS == Limits()
    assert Limits.from_settings(load_settings(max_name_bytes=64)).max_name_bytes == 64


def test_span_to_dict_has_the_design_shape() -> None:
    """span_to_dict writes status as {code, message}, a null root parent, and service.name in the resource."""
    span = Span(TRACE_ID, SPAN_ID, "op", 1, 2, "svc", resource={"host.name": "h"})
    assert span_to_dict(span) == {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "parent_span_id": None,
        "name": "op",
        "kind": "INTERNAL",
        "start_time_unix_nano": 1,
        "end_time_unix_nano": 2,
        "status": {"code": "UNSET", "message": ""},
        "resource": {"host.name": "h", "service.name": "svc"},
        "attributes": {},
        "links": [],
        "trace_state": "",
        "flags": 1,
    }


def test_round_trip_through_dict_and_json() -> None:
    """span_to_dict then span_from_dict, and encode_spans then decode_spans, give back equal spans."""
    spans = [span_from_dict(span_dict()), span_from_dict(minimal_span_dict())]
    assert [span_from_dict(span_to_dict(s)) for s in spans] == spans
    assert decode_spans(encode_spans(spans)) == spans


def test_bundle_round_trip() -> None:
    """decode_bundle reads back exactly what encode_bundle (v2) or encode_spans (v1, JSON) wrote."""
    spans = [span_from_dict(span_dict()), span_from_dict(minimal_span_dict())]
    assert decode_bundle(encode_bundle(spans)) == spans
    assert decode_bundle(encode_bundle([])) == []
    assert decode_bundle(encode_spans(spans)) == spans
    assert decode_bundle(encode_spans([])) == []


def test_bundle_lists_each_resource_once_and_decoded_spans_share_it() -> None:
    shared = {"service.name": "orders", "host.name": "orders-1"}
    spans = [
        span_from_dict(span_dict(span_id=f"{i:016x}", resource=shared)) for i in range(1, 4)
    ]
    for span in spans:
        span.resource = shared  # as the OTLP decoder gives the spans of one resource
    other = span_from_dict(span_dict(span_id="00000000000000ff", resource={"service.name": "pay"}))
    bundle = encode_bundle([*spans, other])
    assert bundle.count(b"orders-1") == 1
    decoded = decode_bundle(bundle)
    assert decoded == [*spans, other]
    assert decoded[0].resource is decoded[1].resource is decoded[2].resource
    assert decoded[3].resource == {"service.name": "pay"}


def test_bundle_resource_always_names_the_span_service() -> None:
    span = span_from_dict(span_dict())
    span.service_name = "renamed"  # resource still says "orders"
    (back,) = decode_bundle(encode_bundle([span]))
    assert back.service_name == "renamed"
    assert back.resource["service.name"] == "renamed"
    assert span.resource["service.name"] == "orders"  # the span's own dict is not changed


@pytest.mark.parametrize(
    "data",
    [
        b"nope",
        b"{}",
        b"[1]",
        b'[{"trace_id": 1}]',
        b"[{}]",
        orjson.dumps([{**span_dict(), "kind": "ODD"}]),
        b"",
        b"\x93\x03\x90\x90",  # msgpack [3, [], []]: an unknown bundle version
        b"\x93\x02\x90\x91\x9e" + b"\xc0" * 14,  # a span row of nils
    ],
)
def test_bundle_garbage_raises_decode_error(data: bytes) -> None:
    """decode_bundle rejects what is not a bundle of spans with DecodeError, never another exception."""
    with pytest.raises(DecodeError, match=r"^bundle: "):
        decode_bundle(data)
