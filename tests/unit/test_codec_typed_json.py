"""The typed fast path for obspipe JSON arrays agrees with the detailed field-by-field path.

`decode_fast` may decline a record (None) but must never accept one differently: whatever it
returns equals what `parse_span_list` makes of the same JSON, and whatever the detailed path
rejects, the fast path declines.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from codec_samples import json_values, span_dict, spans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain.codec import Limits, decode_spans, encode_spans, span_to_dict
from pipeline.domain.codec.limits import DEFAULT_LIMITS
from pipeline.domain.codec.obspipe_json import parse_span_list
from pipeline.domain.codec.typed_json import decode_fast
from pipeline.domain.span import Span
from pipeline.errors import RecordError

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def detailed(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Span] | RecordError:
    """What the field-by-field path makes of a JSON array: its spans or its error."""
    try:
        return parse_span_list(orjson.loads(data), limits)
    except RecordError as exc:
        return exc
    except KeyError:  # a missing required key (decode_spans turns it into a ValidationError)
        return RecordError("missing key")


def test_canonical_array_takes_the_fast_path() -> None:
    data = orjson.dumps([span_dict(), span_dict(span_id="00f067aa0ba902b8", parent_span_id=None)])
    fast = decode_fast(data, DEFAULT_LIMITS)
    assert fast is not None
    assert fast == detailed(data)
    assert fast[0].links[0].attributes == {"k": "v"}
    assert fast[1].parent_span_id is None


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736"}, "upper-case id: normalised by the detailed path"),
        ({"parent_span_id": "0000000000000000"}, "an all-zero parent means no parent"),
        ({"parent_span_id": ""}, "an empty parent means no parent"),
        ({"start_time_unix_nano": "1700000000000000000"}, "time as a decimal string"),
        ({"end_time_unix_nano": 2**63 + 5, "start_time_unix_nano": 2**63}, "times above int64"),
        ({"kind": "SPAN_KIND_CLIENT"}, "an OTLP kind name"),
        ({"kind": 3}, "an OTLP kind number"),
        ({"status": {"code": "STATUS_CODE_OK"}}, "an OTLP status name"),
        ({"attributes": {"tags": ["a", "b"]}}, "an array value"),
        ({"attributes": {"big": 2**63}}, "an integer beyond int64 (orjson reads it as a number)"),
        ({"attributes": {"text": "é" * 5000}}, "a long string within the byte limit"),
        ({"attributes": None}, "null attributes"),
        ({"links": [{"trace_id": "0" * 32, "span_id": "b7ad6b7169203331"}]}, "a link to an all-zero id"),
        ({"end_time_unix_nano": 1}, "end before start"),
        ({"resource": {"host.name": "h"}}, "no service name"),
        ({"span_id": "00f067aa0ba902bz"}, "a non-hex id"),
        ({"name": "x" * 2000}, "a name over the limit"),
    ],
)
def test_fast_path_declines_and_the_detailed_path_decides(overrides: dict[str, Any], why: str) -> None:
    data = orjson.dumps([span_dict(), span_dict(**overrides)])
    assert decode_fast(data, DEFAULT_LIMITS) is None, why
    expected = detailed(data)
    if isinstance(expected, RecordError):
        with pytest.raises(RecordError):
            decode_spans(data)
    else:
        assert decode_spans(data) == expected


def test_limits_shape_the_fast_path() -> None:
    data = orjson.dumps([span_dict(), span_dict()])
    assert decode_fast(data, Limits(max_spans_per_record=1)) is None
    assert decode_fast(data, Limits(max_attributes_per_span=3)) is None
    assert decode_fast(data, Limits(max_links_per_span=0)) is None
    with pytest.raises(RecordError, match="max_spans_per_record"):
        decode_spans(data, limits=Limits(max_spans_per_record=1))


@PROPERTY
@given(st.lists(spans(), min_size=1, max_size=4))
def test_valid_spans_round_trip_through_the_fast_path(drawn: list[Span]) -> None:
    data = encode_spans(drawn)
    fast = decode_fast(data, DEFAULT_LIMITS)
    assert fast is None or fast == detailed(data)
    assert decode_spans(data) == detailed(data)


@PROPERTY
@given(
    st.lists(spans(), min_size=1, max_size=3),
    st.data(),
)
def test_mutated_arrays_are_never_accepted_differently(drawn: list[Span], data: st.DataObject) -> None:
    docs = [span_to_dict(span) for span in drawn]
    target = docs[data.draw(st.integers(0, len(docs) - 1))]
    key = data.draw(st.sampled_from(sorted(target)))
    if data.draw(st.booleans()):
        target[key] = data.draw(json_values)
    else:
        del target[key]
    raw = orjson.dumps(docs)
    fast = decode_fast(raw, DEFAULT_LIMITS)
    expected = detailed(raw)
    if isinstance(expected, RecordError):
        assert fast is None
    else:
        assert fast is None or fast == expected
