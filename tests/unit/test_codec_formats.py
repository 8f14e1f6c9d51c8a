"""Format detection, content types, and decoding files record by record (JSON lines, documents, protobuf)."""

from __future__ import annotations

import orjson
import pytest
from codec_samples import SPAN_ID, TRACE_ID, minimal_span_dict, otlp_json_request, span_dict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.domain.codec import Limits, decode_spans, detect_format, iter_records
from pipeline.errors import DecodeError, LimitExceededError, ValidationError


def _proto(name: str = "op") -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        name=name,
        start_time_unix_nano=1,
        end_time_unix_nano=2,
    )
    return request.SerializeToString()


def _proto_starting_with(second_byte: int) -> bytes:
    """A valid request whose bytes start with "\\n" (the field tag) and then `second_byte` (the length)."""
    for size in range(200):
        data = _proto("n" * size)
        if data[1] == second_byte:
            return data
    raise AssertionError("no name length gives that first length byte")


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (orjson.dumps(span_dict()), None, "obspipe_json"),
        (b"  \n[" + orjson.dumps(span_dict()) + b"]", None, "obspipe_json"),
        (orjson.dumps(otlp_json_request()), None, "otlp_json"),
        (orjson.dumps(otlp_json_request()), "application/json; charset=utf-8", "otlp_json"),
        (orjson.dumps(span_dict()), "otlp_json", "obspipe_json"),
        (_proto(), None, "otlp_proto"),
        (_proto(), "application/x-protobuf", "otlp_proto"),
        (b"anything", "otlp_proto", "otlp_proto"),
        (b"\xef\xbb\xbf" + orjson.dumps(span_dict()), None, "obspipe_json"),
    ],
)
def test_detect_format(data: bytes, content_type: str | None, expected: str) -> None:
    """The content-type header decides when it names protobuf; otherwise the bytes do."""
    assert detect_format(data, content_type) == expected


def test_protobuf_that_starts_like_json_is_still_protobuf() -> None:
    """A request whose first two bytes are "\\n{" or "\\n[" is recognised as protobuf, and decodes."""
    for second in (ord("{"), ord("[")):
        data = _proto_starting_with(second)
        assert data[:2] == bytes([0x0A, second])
        assert detect_format(data) == "otlp_proto"
        assert [s.span_id for s in decode_spans(data)] == [SPAN_ID]


def test_json_that_starts_with_a_newline_is_json() -> None:
    """JSON text that begins with a newline (byte 0x0A, like a protobuf tag) is still read as JSON."""
    body = orjson.dumps(minimal_span_dict(), option=orjson.OPT_INDENT_2)
    assert detect_format(b"\n" + body) == "obspipe_json"
    assert decode_spans(b"\n" + body)[0].span_id == SPAN_ID


@pytest.mark.parametrize(
    ("data", "message"), [(b"", "empty record"), (b" \n ", "empty record"), (b"hello", "neither")]
)
def test_undetectable_input_is_a_decode_error(data: bytes, message: str) -> None:
    """Empty input and bytes that are neither JSON nor OTLP protobuf raise DecodeError."""
    with pytest.raises(DecodeError, match=message):
        decode_spans(data)


def test_broken_json_is_a_decode_error_with_position() -> None:
    """Invalid JSON is rejected as a DecodeError saying where it broke."""
    with pytest.raises(DecodeError, match=r"^not valid JSON: .*line 1 column"):
        decode_spans(b'{"trace_id": ')
    with pytest.raises(DecodeError, match=r"must be a JSON object or array of spans, got number"):
        decode_spans(b"1", content_type="application/json")


def test_utf8_bom_is_skipped() -> None:
    """A UTF-8 byte-order mark before JSON is ignored by decode_spans and iter_records."""
    data = b"\xef\xbb\xbf" + orjson.dumps(span_dict())
    assert [s.span_id for s in decode_spans(data)] == [SPAN_ID]
    assert [(r.line, len(r.spans), r.error) for r in iter_records(data)] == [(1, 1, None)]


def test_decode_spans_accepts_str() -> None:
    """A str record decodes like its UTF-8 bytes."""
    assert decode_spans(orjson.dumps(span_dict()).decode()) == decode_spans(orjson.dumps(span_dict()))


def test_ndjson_record_is_all_or_nothing() -> None:
    """With content type application/x-ndjson every line must decode; a bad line rejects the record."""
    good = orjson.dumps(span_dict()) + b"\n" + orjson.dumps(minimal_span_dict()) + b"\n"
    assert len(decode_spans(good, content_type="application/x-ndjson")) == 2
    assert len(decode_spans(good)) == 2  # detected too
    bad = good + orjson.dumps(span_dict(trace_id="zz"))
    with pytest.raises(
        ValidationError, match=r"^line 3: span\.trace_id: must be 32 hex characters, got 'zz'$"
    ):
        decode_spans(bad, content_type="application/x-ndjson")


def test_ndjson_record_spans_limit_counts_all_lines() -> None:
    """max_spans_per_record applies to a JSON-lines record as a whole."""
    data = b"\n".join([orjson.dumps(minimal_span_dict())] * 3)
    with pytest.raises(LimitExceededError, match=r"^spans: 3 spans is more than the limit of 2"):
        decode_spans(data, content_type="application/x-ndjson", limits=Limits(max_spans_per_record=2))


def test_json_lines_with_a_bad_line_yield_its_error_and_go_on() -> None:
    """Each line is a record: a bad line in the middle gives its line number and reason, the rest decodes."""
    lines = [
        orjson.dumps(span_dict()),
        b"",
        orjson.dumps(span_dict(span_id="1111111111111111", end_time_unix_nano=1)),
        b"{not json",
        orjson.dumps([minimal_span_dict(), minimal_span_dict()]),
        orjson.dumps(otlp_json_request()),
    ]
    results = list(iter_records(b"\n".join(lines) + b"\n"))
    assert [r.line for r in results] == [1, 3, 4, 5, 6]
    assert [len(r.spans) for r in results] == [1, 0, 0, 2, 2]
    assert [r.error is None for r in results] == [True, False, False, True, True]
    assert str(results[1].error) == (
        "span.end_time_unix_nano: 1 is before start_time_unix_nano 1700000000000000000"
    )
    assert isinstance(results[2].error, DecodeError)
    assert str(results[2].error).startswith("not valid JSON")


def test_json_lines_whose_first_line_is_bad_still_decode_the_rest() -> None:
    """A bad first line is reported on its own; the following lines are still decoded."""
    data = b"{oops\n" + orjson.dumps(span_dict()) + b"\n" + orjson.dumps(minimal_span_dict()) + b"\n"
    results = list(iter_records(data))
    assert [(r.line, len(r.spans), r.error is None) for r in results] == [
        (1, 0, False),
        (2, 1, True),
        (3, 1, True),
    ]
    assert isinstance(results[0].error, DecodeError)


def test_pretty_printed_document_is_one_record_at_its_first_line() -> None:
    """A whole-file JSON document spread over many lines is one record, at the line where it starts."""
    body = orjson.dumps(otlp_json_request(), option=orjson.OPT_INDENT_2)
    assert body.count(b"\n") > 20
    results = list(iter_records(b"\n\n" + body + b"\n"))
    assert [(r.line, len(r.spans), r.error) for r in results] == [(3, 2, None)]


def test_broken_pretty_printed_document_is_one_bad_record() -> None:
    """A multi-line document with a syntax error is reported once, not once per line."""
    body = orjson.dumps([span_dict()], option=orjson.OPT_INDENT_2)[:-3]
    results = list(iter_records(body))
    assert len(results) == 1
    assert results[0].line == 1
    assert isinstance(results[0].error, DecodeError)


def test_protobuf_file_is_one_record() -> None:
    """Binary OTLP protobuf input is one record at line 1."""
    results = list(iter_records(_proto()))
    assert [(r.line, [s.span_id for s in r.spans], r.error) for r in results] == [(1, [SPAN_ID], None)]


def test_empty_input_has_no_records() -> None:
    """Empty or blank input yields no records at all."""
    assert list(iter_records(b"")) == []
    assert list(iter_records(b"\n \n")) == []


def test_record_level_limit_applies_per_line() -> None:
    """In JSON lines, a line that breaks a rule is rejected while its neighbours decode."""
    lines = [orjson.dumps(span_dict()), orjson.dumps(span_dict(resource={"service.name": ""}))]
    results = list(iter_records(b"\n".join(lines)))
    assert results[0].error is None
    assert str(results[1].error).startswith("span.resource.service.name: must be a non-empty string")
