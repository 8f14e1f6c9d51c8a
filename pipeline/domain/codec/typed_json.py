"""The fast path for canonical obspipe span JSON arrays: typed decoding in C (msgspec).

`parse_span` validates field by field in Python after `orjson.loads`, about 2 µs per span. Most
records are already canonical: lower-case ids, integer times, scalar attribute values, names
and strings well within the limits. msgspec decodes such an array straight into typed structs
and checks ids, enums, integer ranges and string lengths while parsing, so only what a type
cannot say (all-zero ids, end before start, the service name, attribute counts) is left to
Python. Anything it rejects is *not* an error here: `decode_fast` returns None and the caller
takes the detailed path, which normalises what it can (upper-case ids, decimal-string times,
`SPAN_KIND_*` names, array-valued attributes, long strings within the byte limits) and names
the bad field otherwise. So the two paths accept the same records and decode them alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec

from pipeline.domain.codec.checks import ZERO_SPAN_ID, ZERO_TRACE_ID
from pipeline.domain.codec.limits import Limits
from pipeline.domain.span import NO_LINKS, Span, SpanLink

# Ids: the length is checked while parsing; the characters once per record over all ids joined
# (a msgspec `pattern` runs one regex call per string, 1.5 µs per span for three ids).
_TraceId = Annotated[str, msgspec.Meta(min_length=32, max_length=32)]
_SpanId = Annotated[str, msgspec.Meta(min_length=16, max_length=16)]
_LOWER_HEX = re.compile("[0-9a-f]*").fullmatch
# Times above 2**63 (valid up to 2**64) are left to the detailed path: msgspec bounds are int64.
_Nanos = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
# Integers beyond int64 decode as Python ints here but as floats in orjson: leave them out.
_Int64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
_Kind = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
_Code = Literal["UNSET", "OK", "ERROR"]

Decoder = Callable[[bytes], list[Span] | None]


def _string(max_chars: int) -> Any:
    # A character is at most 4 UTF-8 bytes: max_bytes // 4 characters can never exceed the limit.
    return Annotated[str, msgspec.Meta(max_length=max_chars)]


@lru_cache(maxsize=8)
def _decoder(limits: Limits) -> msgspec.json.Decoder[Any]:
    """A decoder of `list[<wire span>]` whose types carry `limits` (built once per Limits)."""
    text = _string(limits.max_attribute_value_bytes >> 2)
    scalar = text | _Int64 | float | bool | None
    attrs = dict[str, scalar]  # type: ignore[valid-type]
    status = msgspec.defstruct("Status", [("code", _Code, "UNSET"), ("message", text, "")], gc=False)
    link = msgspec.defstruct(
        "Link",
        [("trace_id", _TraceId), ("span_id", _SpanId), ("attributes", attrs, {}), ("trace_state", text, "")],
        gc=False,
    )
    links = Annotated[list[link], msgspec.Meta(max_length=limits.max_links_per_span)]  # type: ignore[valid-type]
    span = msgspec.defstruct(
        "WireSpan",
        [
            ("trace_id", _TraceId),
            ("span_id", _SpanId),
            ("name", _string(limits.max_name_bytes >> 2)),
            ("start_time_unix_nano", _Nanos),
            ("end_time_unix_nano", _Nanos),
            ("resource", attrs),
            ("parent_span_id", _SpanId | None, None),
            ("kind", _Kind, "INTERNAL"),
            ("status", status, msgspec.field(default_factory=status)),
            ("attributes", attrs, {}),
            ("links", links, []),
            ("trace_state", text, ""),
            ("flags", Annotated[int, msgspec.Meta(ge=0, le=0xFFFF_FFFF)], 1),
        ],
        gc=False,
    )
    spans = Annotated[list[span], msgspec.Meta(max_length=limits.max_spans_per_record)]  # type: ignore[valid-type]
    return msgspec.json.Decoder(spans)


def decode_fast(data: bytes, limits: Limits) -> list[Span] | None:
    """The spans of a canonical obspipe JSON array, or None: then take the detailed path."""
    try:
        wire = _decoder(limits).decode(data)
    except (msgspec.MsgspecError, ValueError):  # ValueError: invalid UTF-8
        return None
    max_attributes = limits.max_attributes_per_span
    out: list[Span] = []
    append = out.append
    ids: list[str] = []
    add_id = ids.append
    for w in wire:
        start, end, parent, resource, attributes = (
            w.start_time_unix_nano, w.end_time_unix_nano, w.parent_span_id, w.resource, w.attributes,
        )  # fmt: skip
        service = resource.get("service.name")
        if (
            end < start
            or w.trace_id == ZERO_TRACE_ID
            or ZERO_SPAN_ID in (w.span_id, parent)
            or service.__class__ is not str
            or not service
            or len(attributes) + len(resource) > max_attributes
        ):
            return None
        add_id(w.trace_id)
        add_id(w.span_id)
        if parent is not None:
            add_id(parent)
        links: list[SpanLink] = NO_LINKS
        if w.links:
            links = []
            for ln in w.links:
                if ln.trace_id == ZERO_TRACE_ID or ln.span_id == ZERO_SPAN_ID:
                    return None
                if len(ln.attributes) > max_attributes:
                    return None
                add_id(ln.trace_id)
                add_id(ln.span_id)
                links.append(SpanLink(ln.trace_id, ln.span_id, ln.attributes, ln.trace_state))
        status = w.status
        span = Span(
            w.trace_id, w.span_id, w.name, start, end, service, parent, w.kind, status.code,
            status.message, resource, attributes, links, w.trace_state, w.flags,
        )  # fmt: skip
        append(span)
    return out if _LOWER_HEX("".join(ids)) else None
