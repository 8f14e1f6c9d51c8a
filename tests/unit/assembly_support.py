"""Span builders for the assembly tests: short ids and small integer times keep cases readable."""

from __future__ import annotations

from typing import Any

from pipeline.domain.span import FLAG_SAMPLED, Span, SpanKind, SpanLink

TRACE = "0af7651916cd43dd8448eb211c80319c"


def sid(n: int) -> str:
    """Span id number `n` (16 hex digits)."""
    return f"{n:016x}"


def span(
    n: int,
    parent: int | None,
    start: int,
    end: int,
    *,
    host: str | None = "h1",
    kind: SpanKind = "INTERNAL",
    service: str = "svc",
    sampled: bool = True,
    error: bool = False,
    links: list[tuple[str, int]] | None = None,
    parent_id: str | None = None,
    **extra: Any,
) -> Span:
    """Span `n` under span `parent` (None: a root) on `host`, from `start` to `end` ns."""
    resource: dict[str, Any] = {"service.name": service}
    if host is not None:
        resource["host.name"] = host
    return Span(
        trace_id=TRACE,
        span_id=sid(n),
        name=f"op{n}",
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        service_name=service,
        parent_span_id=parent_id if parent_id is not None else (None if parent is None else sid(parent)),
        kind=kind,
        status_code="ERROR" if error else "UNSET",
        resource=resource,
        links=[SpanLink(trace_id=t, span_id=sid(s)) for t, s in (links or [])],
        flags=FLAG_SAMPLED if sampled else 0,
        **extra,
    )


def by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's spans keyed by span id (unique ids only)."""
    return {s["span_id"]: s for s in record["spans"]}


def codes(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(code, span id) of every diagnostic, in record order."""
    return [(d["code"], d["span_id"]) for d in record["diagnostics"]]
