"""The `assembled_trace/v1` record (DESIGN.md §3, schemas/assembled_trace.v1.json) as a plain dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.domain.assembly.model import TRACE_LEVEL, WorkingTrace
from pipeline.domain.span import Span

SCHEMA = "assembled_trace/v1"
REASONS = ("idle", "max_age", "max_spans", "memory_pressure", "shutdown", "late_update", "links_update")


def _span_entry(span: Span, work: WorkingTrace, i: int, k: int) -> dict[str, Any]:
    """One output span: the obspipe span fields plus the assembly fields, built in one literal."""
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
        "links": [
            {"trace_id": ln.trace_id, "span_id": ln.span_id, "attributes": ln.attributes} for ln in span.links
        ]
        if span.links
        else [],
        "trace_state": span.trace_state,
        "flags": span.flags,
        "depth": work.depth[i],
        "order": k,
        "adjusted_start_time_unix_nano": work.start[i],
        "adjusted_end_time_unix_nano": work.end[i],
        "clock_skew_ns": work.skew[i],
        "self_time_ns": work.self_time[i],
        "on_critical_path": work.on_critical_path[i],
    }


def _summary(work: WorkingTrace) -> dict[str, Any]:
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
    main = next((r for r in work.roots if not spans[r].parent_span_id), work.roots[0])
    first = min(work.start)
    return {
        "root_service": spans[main].service_name,
        "root_name": spans[main].name,
        "start_time_unix_nano": first,
        "duration_ns": max(work.end) - first,
        "span_count": len(spans),
        "services": sorted({s.service_name for s in spans}),
        "error_count": sum(1 for s in spans if s.status_code == "ERROR"),
    }


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
    out_spans = [_span_entry(spans[i], work, i, k) for k, i in enumerate(work.order)]
    links = [
        {
            "span_id": ids[i],
            "trace_id": ln.trace_id,
            "linked_span_id": ln.span_id,
            "resolved": ln.trace_id == trace_id and ln.span_id in index,
        }
        for i in work.order
        if spans[i].links
        for ln in spans[i].links
    ]
    position = work.position
    # Trace-level diagnostics first, then by tree position; stage order is kept within a span.
    diags = sorted(work.diagnostics, key=lambda d: -1 if d[0] == TRACE_LEVEL else position[d[0]])
    diagnostics: list[dict[str, Any]] = [
        {"code": code, "span_id": None if i == TRACE_LEVEL else ids[i], "message": message}
        for i, code, message in diags
    ]
    diagnostics.extend(
        {"code": d["code"], "span_id": d.get("span_id"), "message": d.get("message", "")}
        for d in extra_diagnostics
    )
    return {
        "schema": SCHEMA,
        "trace_id": trace_id,
        "revision": revision,
        "reason": reason,
        "complete": complete,
        "roots": [ids[i] for i in work.roots],
        "orphans": [ids[i] for i in work.orphans],
        "summary": _summary(work),
        "spans": out_spans,
        "links": links,
        "linked_from": [
            {"trace_id": d["trace_id"], "span_id": d["span_id"], "linked_span_id": d["linked_span_id"]}
            for d in linked_from
        ],
        "critical_path": [
            {"span_id": ids[i], "start_time_unix_nano": s, "end_time_unix_nano": e}
            for i, s, e in work.critical_path
        ],
        "diagnostics": diagnostics,
    }
