"""The obspipe span JSON of DESIGN.md §3: validate a decoded object into a `Span`, and back.

`parse_span` is the hot path of span ingest (one to two times the cost of `orjson.loads` of the
span): it tests each field's common valid form inline and leaves normalising and error messages
to `checks`. Unknown keys are ignored, so records may carry more than a span (e.g. assembled spans).
"""

from __future__ import annotations

import re
from typing import Any

from orjson import dumps

from pipeline.domain.codec.checks import (
    KINDS,
    STATUSES,
    U64,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    check_attribute_count,
    check_flags,
    check_id,
    check_kind,
    check_parent_id,
    check_status,
    check_text,
    check_time,
    check_values,
    fail,
    json_type,
    over_limit,
    relocate,
    shown,
)
from pipeline.domain.codec.limits import DEFAULT_LIMITS, Limits
from pipeline.domain.span import FLAG_SAMPLED, NO_LINKS, Span, SpanLink
from pipeline.errors import RecordError, ValidationError

_TRACE_SPAN = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}").fullmatch
_TRACE_SPAN_PARENT = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{16}").fullmatch


def missing_key(exc: KeyError) -> RecordError:
    """The error for a required key that is absent (read by subscript, the fast way)."""
    key = str(exc.args[0]) if exc.args else "?"
    return fail(ValidationError, "resource.service.name" if key == "service.name" else key, "required")


def parse_span(obj: Any, lim: Limits, check_sizes: bool = True) -> Span:
    """One obspipe span from a decoded JSON object; error fields are relative to the span.

    `check_sizes=False` skips the per-value size check, for a record whose whole JSON text is
    no longer than `max_attribute_value_bytes` (no string in it can be longer).

    Raises:
        KeyError: a required key is absent (callers turn it into a ValidationError with `missing_key`).
        RecordError: any other bad field.
    """
    if obj.__class__ is not dict:
        raise fail(ValidationError, "", f"must be a JSON object (a span), got {json_type(obj)}")
    trace_id = obj["trace_id"]
    span_id = obj["span_id"]
    get = obj.get
    parent = get("parent_span_id")
    # One regex over the joined ids costs half of three: the dashes keep each id's length exact.
    # The class tests keep numbers out (the f-string would turn 16 decimal digits into an "id").
    valid = (
        trace_id.__class__ is str
        and span_id.__class__ is str
        and (
            _TRACE_SPAN(f"{trace_id}-{span_id}")
            if parent is None
            else parent.__class__ is str and _TRACE_SPAN_PARENT(f"{trace_id}-{span_id}-{parent}")
        )
    )
    if not valid or trace_id == ZERO_TRACE_ID or ZERO_SPAN_ID in (span_id, parent):
        trace_id = check_id(trace_id, 32, "trace_id")
        span_id = check_id(span_id, 16, "span_id")
        parent = check_parent_id(parent, "parent_span_id")
    name = obj["name"]
    if name.__class__ is not str or len(name) > lim.max_name_bytes >> 2:
        if name is None:
            raise fail(ValidationError, "name", "required")
        check_text(name, "name", lim.max_name_bytes)
    start = obj["start_time_unix_nano"]
    if start.__class__ is not int or start < 0 or start >= U64:
        start = check_time(start, "start_time_unix_nano")
    end = obj["end_time_unix_nano"]
    if end.__class__ is not int or end < 0 or end >= U64:
        end = check_time(end, "end_time_unix_nano")
    if end < start:
        raise fail(ValidationError, "end_time_unix_nano", f"{end} is before start_time_unix_nano {start}")

    resource = obj["resource"]
    if resource.__class__ is not dict:
        why = "required" if resource is None else f"must be an object, got {json_type(resource)}"
        raise fail(ValidationError, "resource", why)
    service = resource["service.name"]
    if service.__class__ is not str or not service:
        raise fail(
            ValidationError, "resource.service.name", f"must be a non-empty string, got {shown(service)}"
        )
    attributes = get("attributes")
    if attributes is None:
        attributes = {}
    elif attributes.__class__ is not dict:
        raise fail(ValidationError, "attributes", f"must be an object, got {json_type(attributes)}")
    max_bytes = lim.max_attribute_value_bytes
    if len(attributes) + len(resource) > lim.max_attributes_per_span:
        check_attribute_count(len(attributes), len(resource), lim.max_attributes_per_span, "attributes")
    if check_sizes:
        try:  # no value is longer than all values together as JSON: one C call settles the usual case
            small = len(dumps((attributes, resource))) <= max_bytes
        except TypeError:
            small = False
        if not small:
            check_values(attributes, max_bytes, "attributes")
            check_values(resource, max_bytes, "resource")

    kind: Any = get("kind")
    if kind is None:
        kind = "INTERNAL"
    elif kind.__class__ is not str or kind not in KINDS:
        kind = check_kind(kind, "kind")
    status = get("status")
    code: Any
    message: Any
    if status is None:
        code, message = "UNSET", ""
    elif status.__class__ is dict:
        code = status.get("code")
        if code.__class__ is not str or code not in STATUSES:
            code = check_status(code, "status.code")
        message = status.get("message")
        if message.__class__ is not str or len(message) > max_bytes >> 2:
            message = "" if message is None else check_text(message, "status.message", max_bytes)
    else:
        raise fail(ValidationError, "status", f"must be an object {{code, message}}, got {json_type(status)}")
    links: Any = get("links")
    if links:
        links = parse_links(links, lim)
    elif links is None or links.__class__ is list:
        links = NO_LINKS
    else:
        raise fail(ValidationError, "links", f"must be an array, got {json_type(links)}")
    trace_state = get("trace_state")
    if trace_state.__class__ is not str or len(trace_state) > max_bytes >> 2:
        trace_state = "" if trace_state is None else check_text(trace_state, "trace_state", max_bytes)
    flags = get("flags")
    if flags is None:
        flags = FLAG_SAMPLED  # absent: sampled, as a span that reached a pipeline almost always is
    elif flags.__class__ is not int or not 0 <= flags < 0x1_0000_0000:
        flags = check_flags(flags, "flags")
    return Span(
        trace_id, span_id, name, start, end, service, parent, kind, code, message,
        resource, attributes, links, trace_state, flags,
    )  # fmt: skip


def parse_links(links: Any, lim: Limits) -> list[SpanLink]:
    """The `links` array of an obspipe span."""
    if links.__class__ is not list:
        raise fail(ValidationError, "links", f"must be an array, got {json_type(links)}")
    if len(links) > lim.max_links_per_span:
        raise over_limit("links", len(links), "links", lim.max_links_per_span, "max_links_per_span")
    out: list[SpanLink] = []
    for i, link in enumerate(links):
        try:
            out.append(_parse_link(link, lim))
        except RecordError as exc:
            raise relocate(exc, f"links[{i}]") from None
    return out


def _parse_link(link: Any, lim: Limits) -> SpanLink:
    if link.__class__ is not dict:
        raise fail(ValidationError, "", f"must be an object, got {json_type(link)}")
    trace_id = check_id(link.get("trace_id"), 32, "trace_id")
    span_id = check_id(link.get("span_id"), 16, "span_id")
    attributes = link.get("attributes")
    if attributes is None:
        attributes = {}
    elif attributes.__class__ is not dict:
        raise fail(ValidationError, "attributes", f"must be an object, got {json_type(attributes)}")
    check_attribute_count(len(attributes), 0, lim.max_attributes_per_span, "attributes")
    check_values(attributes, lim.max_attribute_value_bytes, "attributes")
    trace_state = link.get("trace_state")
    if trace_state is None:
        trace_state = ""
    else:
        check_text(trace_state, "trace_state", lim.max_attribute_value_bytes)
    return SpanLink(trace_id, span_id, attributes, trace_state)


def parse_span_list(items: list[Any], lim: Limits, check_sizes: bool = True) -> list[Span]:
    """A JSON array of obspipe spans; errors name the span as `spans[i]`."""
    if len(items) > lim.max_spans_per_record:
        raise over_limit("spans", len(items), "spans", lim.max_spans_per_record, "max_spans_per_record")
    out: list[Span] = []
    append = out.append
    i = 0
    try:
        for i, obj in enumerate(items):  # noqa: B007 - i names the bad span below
            append(parse_span(obj, lim, check_sizes))
    except KeyError as exc:
        raise relocate(missing_key(exc), f"spans[{i}]") from None
    except RecordError as exc:
        raise relocate(exc, f"spans[{i}]") from None
    return out


def span_from_dict(obj: dict[str, Any], *, limits: Limits = DEFAULT_LIMITS, where: str = "span") -> Span:
    """Validate one obspipe span object (DESIGN.md §3) into a `Span`.

    Args:
        obj: the decoded JSON object.
        limits: bounds on names, attributes and links.
        where: how error messages name this span (e.g. "spans[3]").

    Returns:
        The span, with ids in lower case and times as integers.

    Raises:
        ValidationError: a field is missing or malformed; the message names it ("span.trace_id: ...").
        LimitExceededError: a limit is exceeded; the message names the field or attribute key.
    """
    try:
        return parse_span(obj, limits)
    except KeyError as exc:
        raise relocate(missing_key(exc), where) from None
    except RecordError as exc:
        raise relocate(exc, where) from None


def _link_to_dict(link: SpanLink) -> dict[str, Any]:
    return {
        "trace_id": link.trace_id,
        "span_id": link.span_id,
        "attributes": link.attributes,
        "trace_state": link.trace_state,
    }


def span_to_dict(span: Span) -> dict[str, Any]:
    """The obspipe span JSON object of DESIGN.md §3 (the resource always carries service.name)."""
    resource = span.resource
    if resource.get("service.name") != span.service_name:
        resource = {**resource, "service.name": span.service_name}
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "status": {"code": span.status_code, "message": span.status_message},
        "resource": resource,
        "attributes": span.attributes,
        "links": [_link_to_dict(link) for link in span.links] if span.links else [],
        "trace_state": span.trace_state,
        "flags": span.flags,
    }
