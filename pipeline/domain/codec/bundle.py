"""obspipe's own span bundles, the values of the internal `obspipe.spans-by-trace` topic.

A bundle is MessagePack: `[2, resources, spans]`, where `resources` lists each distinct resource
(attribute map) once and every span is an array
`[trace_id, span_id, parent_span_id, name, kind, start, end, status_code, status_message,
resource_index, attributes, links, trace_state, flags]` with links as
`[trace_id, span_id, attributes, trace_state]`. Why not the JSON array of obspipe spans that
producers send: the topic is internal and written and read once per span, and per span this
costs half as much CPU (C encoding and decoding by msgspec, no key names, each resource once
instead of in every span), takes a third of the bytes, and the decoded spans of one resource
share its dict in the assembler's windows. `decode_bundle` still reads the JSON arrays of
earlier versions, so a topic holding both can be consumed during an upgrade.

Spans in a bundle were validated when they entered the pipeline, so decoding only checks the
shape (msgspec types), which is all the readers need not to fail on a corrupt record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec
import orjson

from pipeline.domain.codec.checks import KINDS, STATUSES, json_type
from pipeline.domain.codec.obspipe_json import span_to_dict
from pipeline.domain.span import NO_LINKS, Span, SpanLink
from pipeline.errors import DecodeError

BUNDLE_VERSION = 2
CONTENT_TYPE = b"application/vnd.obspipe.bundle.v2+msgpack"

_Kind = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
_Code = Literal["UNSET", "OK", "ERROR"]


class _Row(msgspec.Struct, array_like=True, gc=False):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: _Kind
    start: int
    end: int
    status_code: _Code
    status_message: str
    resource: int
    attributes: dict[str, Any]
    links: list[tuple[str, str, dict[str, Any], str]]
    trace_state: str
    flags: int


class _Bundle(msgspec.Struct, array_like=True, gc=False):
    version: int
    resources: list[dict[str, Any]]
    spans: list[_Row]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Bundle)


def encode_bundle(spans: Iterable[Span]) -> bytes:
    """One `obspipe.spans-by-trace` record holding `spans` (see the module docstring)."""
    index: dict[Any, int] = {}  # id(resource dict) -> its place in `resources`
    resources: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []  # encoded as _Row arrays; tuples are cheaper to build
    for span in spans:
        resource = span.resource
        key: Any = id(resource)
        if resource.get("service.name") != span.service_name:  # the resource names the service
            key = (key, span.service_name)
        at = index.get(key)
        if at is None:
            at = index[key] = len(resources)
            resources.append(
                resource if key.__class__ is int else {**resource, "service.name": span.service_name}
            )
        links = span.links
        rows.append(
            (
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                span.name,
                span.kind,
                span.start_time_unix_nano,
                span.end_time_unix_nano,
                span.status_code,
                span.status_message,
                at,
                span.attributes,
                [(ln.trace_id, ln.span_id, ln.attributes, ln.trace_state) for ln in links] if links else (),
                span.trace_state,
                span.flags,
            )
        )
    return _ENCODER.encode((BUNDLE_VERSION, resources, rows))


def decode_bundle(data: bytes) -> list[Span]:
    """The spans of one `obspipe.spans-by-trace` record (a v2 bundle, or a v1 JSON array).

    Raises:
        DecodeError: the bytes are not a bundle of spans.
    """
    if data[:1] == b"[":
        return _decode_json_bundle(data)
    try:
        bundle = _DECODER.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise DecodeError(f"bundle: not an obspipe span bundle ({exc})") from None
    if bundle.version != BUNDLE_VERSION:
        raise DecodeError(f"bundle: version {bundle.version} is not supported (this reads {BUNDLE_VERSION})")
    resources = bundle.resources
    services: list[Any] = [r.get("service.name") for r in resources]
    if any(s.__class__ is not str for s in services):
        raise DecodeError("bundle: a resource has no service.name string")
    try:
        return [
            Span(
                w.trace_id,
                w.span_id,
                w.name,
                w.start,
                w.end,
                services[w.resource],
                w.parent_span_id,
                w.kind,
                w.status_code,
                w.status_message,
                resources[w.resource],
                w.attributes,
                [SpanLink(*ln) for ln in w.links] if w.links else NO_LINKS,
                w.trace_state,
                w.flags,
            )
            for w in bundle.spans
        ]
    except IndexError:
        raise DecodeError(f"bundle: a span refers to a resource beyond the {len(resources)} listed") from None


def encode_spans(spans: Iterable[Span]) -> bytes:
    """A JSON array of obspipe span objects (DESIGN.md §3), the format producers send."""
    return orjson.dumps([span_to_dict(span) for span in spans])


def _decode_json_bundle(data: bytes) -> list[Span]:
    """A v1 bundle: a JSON array of obspipe spans as `encode_spans` writes them."""
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
            append(_json_span(obj))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DecodeError(
            f"bundle: spans[{i}] is not an obspipe span ({exc.__class__.__name__}: {exc})"
        ) from None
    return out


def _json_span(obj: Any) -> Span:
    status = obj["status"]
    resource = obj["resource"]
    span = Span(
        obj["trace_id"], obj["span_id"], obj["name"], obj["start_time_unix_nano"], obj["end_time_unix_nano"],
        resource["service.name"], obj["parent_span_id"], KINDS[obj["kind"]], STATUSES[status["code"]],
        status["message"], resource, obj["attributes"],
        [SpanLink(**link) for link in obj["links"]] if obj["links"] else NO_LINKS,
        obj["trace_state"], obj["flags"],
    )  # fmt: skip  (KINDS/STATUSES: the shared constants, as msgspec gives v2's)
    if not (
        span.trace_id.__class__ is str
        and span.span_id.__class__ is str
        and span.name.__class__ is str
        and span.start_time_unix_nano.__class__ is int
        and span.end_time_unix_nano.__class__ is int
        and span.service_name.__class__ is str
        and (span.parent_span_id is None or span.parent_span_id.__class__ is str)
        and resource.__class__ is dict
        and span.attributes.__class__ is dict
        and span.flags.__class__ is int
    ):
        raise ValueError("a field has the wrong type")
    return span
