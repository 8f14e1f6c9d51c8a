"""The `assembled_trace/v1` record (DESIGN.md §3, schemas/assembled_trace.v1.json) as a plain dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.domain.assembly.model import TRACE_LEVEL, WorkingTrace

SCHEMA = "assembled_trace/v1"
REASONS = ("idle", "max_age", "max_spans", "memory_pressure", "shutdown", "late_update", "links_update")


def _span_entries(work: WorkingTrace) -> tuple[list[dict[str, Any]], set[str], int]:
    """The output spans in tree order (each dict built in one literal: the costliest step of
    assembly, so no per-span helper call), with the set of services and the error count."""
    spans, depth, start, end = work.spans, work.depth, work.start, work.end
    skew, self_time, on_path = work.skew, work.self_time, work.on_critical_path
    services: set[str] = set()
    errors = 0
    out: list[dict[str, Any]] = []
    append = out.append
    for k, i in enumerate(work.order):
        span = spans[i]
        service = span.service_name
        services.add(service)
        status = span.status_code
        if status == "ERROR":
            errors += 1
        resource = span.resource
        if resource.get("service.name") != service:
            resource = {**resource, "service.name": service}
        links = span.links
        append(
            {
                "trace_id": span.trace_id,
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id,
                "name": span.name,
                "kind": span.kind,
                "start_time_unix_nano": span.start_time_unix_nano,
                "end_time_unix_nano": span.end_time_unix_nano,
                "status": {"code": status, "message": span.status_message},
                "resource": resource,
                "attributes": span.attributes,
                "links": [
                    {
                        "trace_id": ln.trace_id,
                        "span_id": ln.span_id,
                        "attributes": ln.attributes,
                        "trace_state": ln.trace_state,
                    }
                    for ln in links
                ]
                if links
                else [],
                "trace_state": span.trace_state,
                "flags": span.flags,
                "depth": depth[i],
                "order": k,
                "adjusted_start_time_unix_nano": start[i],
                "adjusted_end_time_unix_nano": end[i],
                "clock_skew_ns": skew[i],
                "self_time_ns": self_time[i],
                "on_critical_path": on_path[i],
            }
        )
    return out, services, errors


def _summary(work: WorkingTrace, services: set[str], errors: int) -> dict[str, Any]:
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
    entries, services, errors = _span_entries(work)
    index = work.index
    orphans = work.orphans
    if len(orphans) > 1:
        position = {i: k for k, i in enumerate(work.order)}
        orphans = sorted(orphans, key=position.__getitem__)
    return {
        "schema": SCHEMA,
        "trace_id": trace_id,
        "revision": revision,
        "reason": reason,
        "complete": complete,
        "roots": [ids[i] for i in work.roots],
        "orphans": [ids[i] for i in orphans],
        "summary": _summary(work, services, errors),
        "spans": entries,
        "links": [
            {
                "span_id": ids[i],
                "trace_id": ln.trace_id,
                "linked_span_id": ln.span_id,
                "resolved": ln.trace_id == trace_id and ln.span_id in index,
            }
            for i in work.order
            if spans[i].links
            for ln in spans[i].links
        ],
        "linked_from": [
            {"trace_id": d["trace_id"], "span_id": d["span_id"], "linked_span_id": d["linked_span_id"]}
            for d in linked_from
        ],
        "critical_path": [
            {"span_id": ids[i], "start_time_unix_nano": s, "end_time_unix_nano": e}
            for i, s, e in work.critical_path
        ],
        "diagnostics": _diagnostics(work, extra_diagnostics) if work.diagnostics or extra_diagnostics else [],
    }
