"""Which span format a record or file holds, and decoding it: one record, or a file record by record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from pipeline.domain.codec.checks import json_type, over_limit, relocate
from pipeline.domain.codec.limits import DEFAULT_LIMITS, Limits
from pipeline.domain.codec.obspipe_json import missing_key, parse_span, parse_span_list
from pipeline.domain.codec.otlp_json import parse_request
from pipeline.domain.codec.otlp_proto import parse_request_bytes
from pipeline.domain.codec.typed_json import decode_fast
from pipeline.domain.span import Span
from pipeline.errors import DecodeError, RecordError

Format = Literal["otlp_proto", "otlp_json", "obspipe_json"]

# Kafka `content-type` header values (and the Collector kafka exporter's encoding names).
_PROTO_TYPES = frozenset({"application/x-protobuf", "application/protobuf", "otlp_proto"})
_JSON_TYPES = frozenset({"application/json", "otlp_json", "text/json"})
_LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
_JSON_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _is_request_proto(data: bytes) -> bool:
    """True when the bytes are a chain of field-1 length-delimited entries that ends exactly at the end.

    An `ExportTraceServiceRequest` is nothing but repeated `resource_spans = 1` (tag byte 0x0A);
    JSON text, even one starting with a newline (also 0x0A), essentially never lines up like that.
    """
    pos, size = 0, len(data)
    while pos < size:
        if data[pos] != 0x0A:
            return False
        pos += 1
        length, shift = 0, 0
        while True:  # a base-128 varint, at most 10 bytes
            if pos >= size or shift > 63:
                return False
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        pos += length
    return pos == size and size > 0


def _sniff_json(data: bytes) -> Format | None:
    head = data[3:] if data.startswith(_BOM) else data
    head = head.lstrip(_JSON_WHITESPACE)
    if head[:1] in (b"{", b"["):
        return "otlp_json" if b'"resourceSpans"' in data else "obspipe_json"
    return None


def _looks_like_proto(data: bytes) -> bool:
    """An OTLP protobuf request, also when its first bytes read as a newline and a brace ("\\n{")."""
    return _is_request_proto(data) and (_sniff_json(data) is None or not _parses(data))


def detect_format(data: bytes, content_type: str | None = None) -> Format:
    """The format of one record, from its content-type header when that says, else from the bytes.

    Raises:
        DecodeError: the record is empty, or neither JSON text nor an OTLP protobuf request.
    """
    media = _media_type(content_type)
    if media in _PROTO_TYPES or _looks_like_proto(data):
        return "otlp_proto"
    sniffed = _sniff_json(data)
    if sniffed is not None:
        return sniffed
    if media in _JSON_TYPES or media in _LINES_TYPES:
        return "obspipe_json"
    if not data.strip():
        raise DecodeError("empty record")
    raise DecodeError(
        f"neither JSON nor an OTLP protobuf ExportTraceServiceRequest (starts with {data[:8]!r})"
    )


def spans_from_json(value: Any, limits: Limits = DEFAULT_LIMITS, size: int | None = None) -> list[Span]:
    """The spans of one decoded JSON document: a span, an array of spans, or OTLP JSON.

    `size` is the length of the JSON text, when known: if it is within max_attribute_value_bytes,
    no value in it can exceed that limit and the per-value size checks are skipped.
    """
    check_sizes = size is None or size > limits.max_attribute_value_bytes
    if value.__class__ is list:
        return parse_span_list(value, limits, check_sizes)
    if value.__class__ is dict:
        if "resourceSpans" in value:
            return parse_request(value, limits)
        try:
            return [parse_span(value, limits, check_sizes)]
        except KeyError as exc:
            raise relocate(missing_key(exc), "span") from None
        except RecordError as exc:
            raise relocate(exc, "span") from None
    raise DecodeError(f"must be a JSON object or array of spans, got {json_type(value)}")


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None


def _decode_lines(data: bytes, limits: Limits) -> list[Span]:
    """JSON lines as one record: every line must decode (a record is all-or-nothing)."""
    out: list[Span] = []
    for result in iter_records(data, limits=limits):
        if result.error is not None:
            raise type(result.error)(f"line {result.line}: {result.error}", field=result.error.field)
        out.extend(result.spans)
        if len(out) > limits.max_spans_per_record:
            raise over_limit("spans", len(out), "spans", limits.max_spans_per_record, "max_spans_per_record")
    return out


def decode_spans(
    data: bytes | str, *, content_type: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[Span]:
    """The spans of one Kafka record value or one file, in any accepted format.

    Accepted: an obspipe span JSON object, a JSON array of them, JSON lines of either, OTLP JSON
    (`{"resourceSpans": ...}`) and OTLP protobuf `ExportTraceServiceRequest` bytes.

    Args:
        data: the record value.
        content_type: the record's `content-type` header, if any ("application/x-protobuf",
            "application/json", "application/x-ndjson", or the Collector's "otlp_proto"/"otlp_json");
            without it the format is detected from the bytes.
        limits: bounds on the record.

    Returns:
        All spans of the record (possibly none, for an empty array or request).

    Raises:
        DecodeError, ValidationError, LimitExceededError: the whole record is rejected; the
            message names the field and why (e.g. "spans[3].trace_id: must be 32 hex characters, got 'zz'").
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw[:3] == _BOM:
        raw = raw[3:]
    media = _media_type(content_type) if content_type else None
    if media in _LINES_TYPES:
        return _decode_lines(raw, limits)
    # Every request starts with byte 0x0A; JSON is parsed first and told apart by its structure.
    if media in _PROTO_TYPES or (raw[:1] == b"\n" and _looks_like_proto(raw)):
        return parse_request_bytes(raw, limits)
    if raw[:1] == b"[":  # the usual producer batch: try the typed C decoder first
        fast = decode_fast(raw, limits)
        if fast is not None:
            return fast
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        detect_format(raw, content_type)  # raises for empty input and for what is not JSON at all
        if b"\n" in raw.strip():
            return _decode_lines(raw, limits)
        raise DecodeError(f"not valid JSON: {exc}") from None
    return spans_from_json(value, limits, len(raw))


@dataclass(slots=True)
class RecordResult:
    """One record of a file: its spans, or the error that rejected it."""

    line: int  # 1-based line number in the input where the record starts
    spans: list[Span]  # empty when error is set
    error: RecordError | None


def _one_record(line: int, decode: Any, *args: Any) -> RecordResult:
    try:
        return RecordResult(line, decode(*args), None)
    except RecordError as exc:
        return RecordResult(line, [], exc)


def iter_records(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Iterator[RecordResult]:
    """The records of a file or stdin, each decoded on its own so one bad record spoils only itself.

    A whole-file JSON document (an object, an array or OTLP JSON, pretty-printed or not) is one
    record at its first line; JSON lines give one record per non-blank line; OTLP protobuf bytes
    are one record at line 1. A bad line yields a result with `error` set and iteration goes on.
    """
    if data.startswith(_BOM):
        data = data[3:]
    if not data.strip(_JSON_WHITESPACE):
        return
    if _looks_like_proto(data):
        yield _one_record(1, parse_request_bytes, data, limits)
        return
    first = len(data) - len(data.lstrip(_JSON_WHITESPACE))
    first_line = data.count(b"\n", 0, first) + 1
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        lines = data.split(b"\n")
        heads = [text for text in lines if text.strip(_JSON_WHITESPACE)][:5]
        if len(heads) < 2 or not any(map(_is_document, heads)):
            # Not JSON lines (none of its first lines is a document of its own, as every line of a
            # broken pretty-printed document is not): one bad record, where it starts.
            yield RecordResult(first_line, [], DecodeError(f"not valid JSON: {exc}"))
            return
        for number, text in enumerate(lines, start=1):
            if text.strip(_JSON_WHITESPACE):
                yield _one_record(number, _line_spans, text, limits)
        return
    yield _one_record(first_line, spans_from_json, document, limits, len(data))


def _parses(text: bytes) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _is_document(text: bytes) -> bool:
    """The line is a JSON object or array by itself (a line of JSON lines, not of a pretty document)."""
    try:
        return orjson.loads(text).__class__ in (dict, list)
    except orjson.JSONDecodeError:
        return False


def _line_spans(text: bytes, limits: Limits) -> list[Span]:
    return spans_from_json(_loads(text), limits, len(text))
