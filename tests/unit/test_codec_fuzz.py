"""Fuzzing the codecs: malformed input of every kind raises only the project's RecordError subclasses."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from codec_samples import json_values, otlp_json_request, otlp_proto_request, span_dict, spans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain.codec import (
    Limits,
    decode_bundle,
    decode_spans,
    encode_bundle,
    encode_spans,
    iter_records,
    span_from_dict,
    span_to_dict,
)
from pipeline.domain.span import Span
from pipeline.errors import DecodeError, RecordError

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "span.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "application/x-protobuf", "application/x-ndjson", "otlp_json", "text/plain"]
)
SMALL_LIMITS = Limits(
    max_attributes_per_span=6,
    max_attribute_value_bytes=24,
    max_spans_per_record=3,
    max_links_per_span=1,
    max_name_bytes=12,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_accepted(decoded: list[Span]) -> None:
    """Whatever a decoder accepts is a valid span: it encodes and its JSON matches schemas/span.v1.json."""
    orjson.loads(encode_spans(decoded))
    for span in decoded:
        assert isinstance(span, Span)
        VALIDATOR.validate(orjson.loads(orjson.dumps(span_to_dict(span))))


def _decode_or_reject(data: bytes, content_type: str | None = None, limits: Limits | None = None) -> None:
    try:
        decoded = decode_spans(data, content_type=content_type, limits=limits or Limits())
    except RecordError:
        return
    _check_accepted(decoded)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (object keys and array indexes), outermost first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """A copy of `document` with one to three places replaced by random JSON or removed."""
    doc = orjson.loads(orjson.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in _paths(doc) if p]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return doc


@FUZZ
@given(st.binary(max_size=400), CONTENT_TYPES)
def test_random_bytes_raise_only_record_errors(data: bytes, content_type: str | None) -> None:
    """Random bytes under any content type are decoded or rejected with a RecordError, nothing else."""
    _decode_or_reject(data, content_type)


@FUZZ
@given(json_values)
def test_random_json_raises_only_record_errors(value: Any) -> None:
    """Any JSON document is decoded or rejected with a RecordError."""
    _decode_or_reject(orjson.dumps(value))


@FUZZ
@given(mutated(span_dict()))
def test_mutated_obspipe_span_raises_only_record_errors(obj: Any) -> None:
    """A valid obspipe span with random fields replaced or removed never escapes as another exception."""
    _decode_or_reject(orjson.dumps(obj))
    _decode_or_reject(orjson.dumps([obj, span_dict()]), limits=SMALL_LIMITS)


@FUZZ
@given(mutated(otlp_json_request()))
def test_mutated_otlp_json_raises_only_record_errors(doc: Any) -> None:
    """A valid OTLP JSON request with random places replaced or removed never escapes as another exception."""
    _decode_or_reject(orjson.dumps(doc))
    _decode_or_reject(orjson.dumps(doc), limits=SMALL_LIMITS)


@st.composite
def _proto_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(otlp_proto_request().SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[pos : pos + draw(st.integers(1, 4))]
    return bytes(data)


@FUZZ
@given(_proto_mutations())
def test_mutated_otlp_proto_raises_only_record_errors(data: bytes) -> None:
    """An OTLP protobuf request with flipped, inserted or deleted bytes never escapes as another exception."""
    _decode_or_reject(data)
    _decode_or_reject(data, "application/x-protobuf", SMALL_LIMITS)


@FUZZ
@given(st.lists(st.binary(max_size=60) | mutated(span_dict()).map(orjson.dumps), max_size=5))
def test_iter_records_never_raises(lines: list[bytes]) -> None:
    """iter_records turns every bad line into a result with an error instead of raising."""
    for result in iter_records(b"\n".join(lines)):
        assert result.line >= 1
        assert (result.error is None) or (result.spans == [] and isinstance(result.error, RecordError))
        if result.error is None:
            _check_accepted(result.spans)


@FUZZ
@given(st.binary(max_size=200) | json_values.map(orjson.dumps) | mutated([span_dict()]).map(orjson.dumps))
def test_decode_bundle_raises_only_decode_error(data: bytes) -> None:
    """decode_bundle on garbage raises DecodeError and nothing else."""
    with contextlib.suppress(DecodeError):
        decode_bundle(data)


@FUZZ
@given(spans())
def test_span_round_trips_through_dict_json_and_bundle(span: Span) -> None:
    """Any valid span survives span_to_dict -> span_from_dict, encode -> decode_spans and decode_bundle."""
    assert span_from_dict(span_to_dict(span)) == span
    assert decode_spans(encode_spans([span])) == [span]
    assert decode_bundle(encode_spans([span])) == [span]  # a v1 (JSON) bundle
    assert decode_bundle(encode_bundle([span])) == [span]


@FUZZ
@given(st.lists(spans(), max_size=4).map(encode_bundle), st.data())
def test_corrupt_msgpack_bundles_raise_only_decode_error(bundle: bytes, data: st.DataObject) -> None:
    """A v2 bundle cut short or with bytes flipped gives DecodeError or spans, nothing else."""
    cut = data.draw(st.integers(0, len(bundle)))
    places = st.integers(0, max(len(bundle) - 1, 0))
    flips = data.draw(st.lists(st.tuples(places, st.integers(0, 255)), max_size=3))
    corrupt = bytearray(bundle[:cut] if data.draw(st.booleans()) else bundle)
    for at, byte in flips:
        if at < len(corrupt):
            corrupt[at] = byte
    with contextlib.suppress(DecodeError):
        for span in decode_bundle(bytes(corrupt)):
            assert isinstance(span, Span)


@pytest.mark.parametrize("depth", [33, 75])
def test_deeply_nested_values_are_rejected_not_crashing(depth: int) -> None:
    """Deeply nested attribute values give a RecordError instead of a RecursionError."""
    value: Any = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    request = otlp_json_request()
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [{"key": "deep", "value": value}]
    with pytest.raises(RecordError, match="nested more than 32 levels deep"):
        decode_spans(orjson.dumps(request))


def test_json_nested_past_the_parser_limit_is_a_decode_error() -> None:
    """JSON nested deeper than the parser allows is a DecodeError, not a crash."""
    with pytest.raises(DecodeError):
        decode_spans(b"[" * 5000 + b"]" * 5000)
