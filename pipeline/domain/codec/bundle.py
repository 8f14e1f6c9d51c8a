"""obspipe's own bundles (`obspipe.spans-by-trace` values): JSON arrays of obspipe spans.

Spans in a bundle were validated when they entered the pipeline, so `decode_bundle` only checks
their shape, about half the cost of `decode_spans`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from pipeline.domain.codec.checks import KINDS, json_type
from pipeline.domain.codec.obspipe_json import span_to_dict
from pipeline.domain.span import STATUS_CODES, Span, SpanLink
from pipeline.errors import DecodeError


def encode_spans(spans: Iterable[Span]) -> bytes:
    """A JSON array of `span_to_dict` objects: the value of an `obspipe.spans-by-trace` bundle."""
    return orjson.dumps([span_to_dict(span) for span in spans])


_STATUS_SET = frozenset(STATUS_CODES)


def decode_bundle(data: bytes) -> list[Span]:
    """Spans of a bundle that obspipe wrote with `encode_spans` (validated when first decoded).

    Only the shape is checked here (types of the fields, not id formats or limits), which is all
    the assembler needs not to fail on a corrupt record.

    Raises:
        DecodeError: the bytes are not a bundle of spans.
    """
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"bundle: not JSON ({exc})") from None
    if items.__class__ is not list:
        raise DecodeError(f"bundle: must be a JSON array of spans, got {json_type(items)}")
    out: list[Span] = []
    append = out.append
    i = 0
    try:
        for i, obj in enumerate(items):  # noqa: B007 - i names the bad span below
            append(_bundle_span(obj))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DecodeError(
            f"bundle: spans[{i}] is not an obspipe span ({exc.__class__.__name__}: {exc})"
        ) from None
    return out


def _bundle_span(obj: Any) -> Span:
    status = obj["status"]
    resource = obj["resource"]
    span = Span(
        obj["trace_id"], obj["span_id"], obj["name"], obj["start_time_unix_nano"], obj["end_time_unix_nano"],
        resource["service.name"], obj["parent_span_id"], obj["kind"], status["code"], status["message"],
        resource, obj["attributes"], [SpanLink(**link) for link in obj["links"]] if obj["links"] else [],
        obj["trace_state"], obj["flags"],
    )  # fmt: skip
    if not (
        span.trace_id.__class__ is str
        and span.span_id.__class__ is str
        and span.name.__class__ is str
        and span.start_time_unix_nano.__class__ is int
        and span.end_time_unix_nano.__class__ is int
        and span.service_name.__class__ is str
        and (span.parent_span_id is None or span.parent_span_id.__class__ is str)
        and span.kind in KINDS
        and span.status_code in _STATUS_SET
        and resource.__class__ is dict
        and span.attributes.__class__ is dict
        and span.flags.__class__ is int
    ):
        raise ValueError("a field has the wrong type")
    return span
