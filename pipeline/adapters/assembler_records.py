"""The trace-assembler's record formats: its JSON output, the `obspipe.links` records it sends and
reads, and what an indexed record says was emitted (for replay reconciliation). No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from pipeline.domain.codec import span_from_dict
from pipeline.domain.codec.checks import check_id
from pipeline.domain.windows import IncomingLink, PriorTrace
from pipeline.errors import DecodeError


def encode_record(record: dict[str, Any]) -> bytes:
    """The record as JSON. Bundles are checked for shape only, so a corrupt one may carry attribute
    values JSON cannot hold (bytes, non-string keys deep inside): write those as strings rather
    than crash the worker."""
    try:
        return orjson.dumps(record)
    except TypeError:
        return orjson.dumps(record, default=repr, option=orjson.OPT_NON_STR_KEYS)


# Room left in a truncated record for its key, headers, the diagnostic and Kafka's framing.
_TRUNCATION_SLACK = 4_096


def truncate_record(record: dict[str, Any], size: int, max_bytes: int) -> bytes:
    """A record of `size` encoded bytes cut to fit `max_bytes` (the producer's message.max.bytes),
    encoded: its spans kept in tree order while they fit, `complete` false, and a TRACE_TRUNCATED
    diagnostic saying how many were left out. The summary still describes the whole trace.
    Modifies `record`.

    If the rest of the record alone is too large, the lists that grow with the trace (critical
    path, links, incoming links, diagnostics) are emptied too, and the diagnostic says so.
    """
    spans = record["spans"]
    budget = max_bytes - _TRUNCATION_SLACK
    sizes = [len(orjson.dumps(entry, default=repr)) + 1 for entry in spans]
    rest = size - sum(sizes)
    dropped_lists = rest > budget // 2
    if dropped_lists:
        for name in ("critical_path", "links", "linked_from", "diagnostics"):
            record[name] = []
        rest = len(orjson.dumps({**record, "spans": []}, default=repr))
    kept = used = 0
    for n in sizes:
        if rest + used + n > budget:
            break
        used += n
        kept += 1
    record["spans"] = spans[:kept]
    record["complete"] = False
    message = (
        f"the record was {size} bytes, over message.max.bytes ({max_bytes}): the first {kept} of "
        f"{len(spans)} spans in tree order are kept"
    )
    if dropped_lists:
        message += "; critical path, links and other diagnostics left out"
    record["diagnostics"].append({"code": "TRACE_TRUNCATED", "span_id": None, "message": message})
    return encode_record(record)


def outgoing_links(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The obspipe.links entries of an assembled trace: (target trace id, entry) per link to another trace."""
    own = record["trace_id"]
    out: list[tuple[str, dict[str, Any]]] = []
    attributes: dict[str, dict[str, Any]] = {}
    for link in record.get("links") or ():
        target = link["trace_id"]
        if target == own:
            continue
        if not attributes:
            attributes = {
                f"{s['span_id']}/{ln['trace_id']}/{ln['span_id']}": ln.get("attributes") or {}
                for s in record["spans"]
                for ln in s.get("links") or ()
            }
        value = {
            "trace_id": target,
            "span_id": link["linked_span_id"],
            "from_trace_id": own,
            "from_span_id": link["span_id"],
            "attributes": attributes.get(f"{link['span_id']}/{target}/{link['linked_span_id']}", {}),
        }
        out.append((target, value))
    return out


def encode_links(entries: Sequence[dict[str, Any]]) -> bytes:
    """One obspipe.links record: a JSON array of link entries whose targets share a partition."""
    return orjson.dumps(entries)


def parse_link_record(value: bytes | None) -> list[IncomingLink]:
    """Decode and validate one obspipe.links record: a JSON array of link entries, or one entry
    (the format of earlier versions). All or nothing: one bad entry rejects the record.

    Raises:
        DecodeError: not a JSON object or array of objects.
        ValidationError: an id is missing or malformed (the message names the entry and field).
    """
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"link: not JSON ({exc})") from None
    if isinstance(doc, dict):
        return [_link(doc, "link")]
    if not isinstance(doc, list):
        raise DecodeError(f"link: must be a JSON array of link objects, got {type(doc).__name__}")
    return [_link(obj, f"links[{i}]") for i, obj in enumerate(doc)]


def _link(obj: Any, where: str) -> IncomingLink:
    if not isinstance(obj, dict):
        raise DecodeError(f"{where}: must be a JSON object, got {type(obj).__name__}")
    get = obj.get
    return IncomingLink(
        trace_id=check_id(get("trace_id"), 32, f"{where}.trace_id"),
        span_id=check_id(get("span_id"), 16, f"{where}.span_id"),
        from_trace_id=check_id(get("from_trace_id"), 32, f"{where}.from_trace_id"),
        from_span_id=check_id(get("from_span_id"), 16, f"{where}.from_span_id"),
    )


def prior_from_record(record: dict[str, Any]) -> PriorTrace:
    """What an indexed assembled record says was emitted (for replay reconciliation)."""
    spans = [span_from_dict(s, where=f"index.spans[{i}]") for i, s in enumerate(record.get("spans") or ())]
    linked = [
        {
            "trace_id": str(r["trace_id"]),
            "span_id": str(r["span_id"]),
            "linked_span_id": str(r["linked_span_id"]),
        }
        for r in record.get("linked_from") or ()
    ]
    return PriorTrace(int(record["revision"]), spans, linked, bool(record.get("complete", True)))
