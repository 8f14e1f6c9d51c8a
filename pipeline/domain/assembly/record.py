"""The `assembled_trace/v1` record (DESIGN.md §3, schemas/assembled_trace.v1.json) as a plain dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.domain.assembly.model import TRACE_LEVEL, WorkingTrace
from pipeline.domain.codec.obspipe_json import span_to_dict

SCHEMA = "assembled_trace/v1"
REASONS = ("idle", "max_age", "max_spans", "memory_pressure", "shutdown", "late_update", "links_update")


def _span_entries(work: WorkingTrace) -> tuple[list[dict[str, Any]], dict[str, Any], list[int]]:
    """The output spans in tree order: the codec's obspipe span dict plus the assembly fields.

    The same pass gathers what the summary needs (services, errors, first start, last end)
    and the spans that carry links, in tree order: per-span passes are what assembly costs.
    (Adding seven keys to `span_to_dict`'s dict measured faster than one 20-key literal.)

    Returns:
        The span entries, the `summary` object and the indexes of the spans with links.
    """
    spans, depth, start, end = work.spans, work.depth, work.start, work.end
    skew, covered, on_path = work.skew, work.covered, work.on_critical_path
    out: list[dict[str, Any]] = []
    append = out.append
    services: set[str] = set()
    add_service = services.add
    errors = 0
    linked: list[int] = []
    first = last = start[work.order[0]] if spans else 0
    for k, i in enumerate(work.order):
        span = spans[i]
        entry = span_to_dict(span)
        s, e = start[i], end[i]
        entry["depth"] = depth[i]
        entry["order"] = k
        entry["adjusted_start_time_unix_nano"] = s
        entry["adjusted_end_time_unix_nano"] = e
        entry["clock_skew_ns"] = skew[i]
        # Self time: the duration (raw = adjusted) less what the children cover; an end before
        # the start (only in spans built unchecked) counts as no duration.
        entry["self_time_ns"] = (e - s if e > s else 0) - covered[i]
        entry["on_critical_path"] = on_path[i]
        append(entry)
        if s < first:  # noqa: PLR1730 - min()/max() cost a call per span
            first = s
        if e > last:  # noqa: PLR1730
            last = e
        add_service(span.service_name)
        if span.status_code == "ERROR":
            errors += 1
        if span.links:
            linked.append(i)
    return out, _summary(work, first, last, services, errors), linked


def _summary(work: WorkingTrace, first: int, last: int, services: set[str], errors: int) -> dict[str, Any]:
    spans = work.spans
    if not spans:
        return {
            "root_service": None,
            "root_name": None,
            "start_time_unix_nano": 0,
            "duration_ns": 0,
            "span_count": 0,
            "services": [],
            "error_count": 0,
        }
    # The main root: the first root (tree order) that has no parent at all, else the first root.
    roots = work.roots
    main = roots[0]
    if spans[main].parent_span_id:  # an orphan or a cycle cut comes first: prefer a real root
        main = next((r for r in roots if not spans[r].parent_span_id), main)
    return {
        "root_service": spans[main].service_name,
        "root_name": spans[main].name,
        "start_time_unix_nano": first,
        "duration_ns": last - first,
        "span_count": len(spans),
        "services": sorted(services),
        "error_count": errors,
    }


def _diagnostics(work: WorkingTrace, extra: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    ids = work.span_ids
    found = work.diagnostics
    if len(found) > 1:
        # Trace-level first, then by tree position; stage order is kept within a span.
        position = {i: k for k, i in enumerate(work.order)}
        found = sorted(found, key=lambda d: -1 if d[0] == TRACE_LEVEL else position[d[0]])
    out: list[dict[str, Any]] = [
        {"code": code, "span_id": None if i == TRACE_LEVEL else ids[i], "message": message}
        for i, code, message in found
    ]
    if extra:  # (no generator for none, the usual case)
        out.extend(
            {"code": d["code"], "span_id": d.get("span_id"), "message": d.get("message", "")} for d in extra
        )
    return out


def build_record(
    work: WorkingTrace,
    *,
    revision: int,
    reason: str,
    complete: bool,
    linked_from: Sequence[dict[str, str]],
    extra_diagnostics: Sequence[dict[str, str]],
) -> dict[str, Any]:
    """Assemble the output dict from a fully processed `WorkingTrace`."""
    spans, ids, trace_id = work.spans, work.span_ids, work.trace_id
    index = work.index
    roots, orphans = work.roots, work.orphans
    if len(orphans) > 1:
        position = {i: k for k, i in enumerate(work.order)}
        orphans = sorted(orphans, key=position.__getitem__)
    entries, summary, linked = _span_entries(work)
    return {
        "schema": SCHEMA,
        "trace_id": trace_id,
        "revision": revision,
        "reason": reason,
        "complete": complete,
        "roots": [ids[i] for i in roots] if len(roots) > 1 else [ids[roots[0]]] if roots else [],
        "orphans": [ids[i] for i in orphans] if orphans else [],  # (no comprehension call for none)
        "summary": summary,
        "spans": entries,
        "links": [
            {
                "span_id": ids[i],
                "trace_id": ln.trace_id,
                "linked_span_id": ln.span_id,
                "resolved": ln.trace_id == trace_id and ln.span_id in index,
            }
            for i in linked
            for ln in spans[i].links
        ]
        if linked
        else [],
        "linked_from": [
            {"trace_id": d["trace_id"], "span_id": d["span_id"], "linked_span_id": d["linked_span_id"]}
            for d in linked_from
        ]
        if linked_from
        else [],
        "critical_path": work.critical_path,
        "diagnostics": _diagnostics(work, extra_diagnostics) if work.diagnostics or extra_diagnostics else [],
    }
