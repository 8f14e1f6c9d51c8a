"""How the CLI shows assembled traces: a one-line summary, filters, and a terminal waterfall."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 40
CRITICAL_MARK = "◆"


def duration_ms(doc: dict[str, Any]) -> float:
    return int(doc.get("summary", {}).get("duration_ns") or 0) / 1e6


def matches(doc: dict[str, Any], *, service: str | None, errors: bool, min_duration_ms: float) -> bool:
    """Whether a trace passes `obspipe traces tail`'s filters."""
    summary = doc.get("summary") or {}
    if service is not None and service not in (summary.get("services") or ()):
        return False
    if errors and not summary.get("error_count"):
        return False
    return duration_ms(doc) >= min_duration_ms


def summary_line(doc: dict[str, Any]) -> str:
    """One line per trace: when, id, revision and reason, root, size, duration, errors, diagnostics."""
    s = doc.get("summary") or {}
    start = int(s.get("start_time_unix_nano") or 0)
    when = datetime.fromtimestamp(start / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
    parts = [
        when,
        doc["trace_id"],
        f"r{doc['revision']}:{doc['reason']}",
        f"{s.get('root_service', '?')}:{s.get('root_name', '?')}",
        f"{s.get('span_count', len(doc.get('spans') or ()))} spans",
        f"{duration_ms(doc):.1f}ms",
    ]
    if s.get("error_count"):
        parts.append(f"errors={s['error_count']}")
    if not doc.get("complete", True):
        parts.append("INCOMPLETE")
    codes = sorted({d["code"] for d in doc.get("diagnostics") or ()})
    if codes:
        parts.append("[" + ",".join(codes) + "]")
    if doc.get("linked_from"):
        parts.append(f"linked_from={len(doc['linked_from'])}")
    return "  ".join(parts)


def _bar(start: int, end: int, t0: int, total: int, width: int) -> tuple[int, int]:
    """Offset and length (in cells, at least 1) of a span's bar on a timeline of `width` cells."""
    if total <= 0:
        return 0, width
    left = min(width - 1, max(0, (start - t0) * width // total))
    right = min(width, max(left + 1, -(-(end - t0) * width // total)))
    return left, right - left


def waterfall(doc: dict[str, Any], width: int = BAR_WIDTH) -> Group:
    """The trace as a rich renderable: spans in tree order with bars on adjusted times.

    Critical-path spans carry `◆` and a bold bar; error spans are red; clock-skew corrections
    are shown per span; diagnostics and links follow the table.
    """
    spans = doc.get("spans") or []
    t0 = min((int(s["adjusted_start_time_unix_nano"]) for s in spans), default=0)
    t1 = max((int(s["adjusted_end_time_unix_nano"]) for s in spans), default=0)
    total = t1 - t0
    s = doc.get("summary") or {}
    title = (
        f"trace {doc['trace_id']}  revision {doc['revision']} ({doc['reason']})  "
        f"{len(spans)} spans  {total / 1e6:.3f} ms  services: {', '.join(s.get('services') or ())}"
    )
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("", width=1)
    table.add_column("span", no_wrap=True)
    table.add_column("service", no_wrap=True)
    table.add_column("timeline", width=width, no_wrap=True)
    table.add_column("ms", justify="right")
    table.add_column("notes")
    for span in spans:
        start, end = int(span["adjusted_start_time_unix_nano"]), int(span["adjusted_end_time_unix_nano"])
        left, length = _bar(start, end, t0, total, width)
        critical = bool(span.get("on_critical_path"))
        error = (span.get("status") or {}).get("code") == "ERROR"
        style = "red" if error else ("bold cyan" if critical else "dim cyan")
        bar = Text(" " * left) + Text("█" * length, style=style) + Text(" " * (width - left - length))
        notes = []
        if span.get("clock_skew_ns"):
            notes.append(f"skew {int(span['clock_skew_ns']) / 1e6:+.3f}ms")
        if error:
            notes.append("ERROR " + str((span.get("status") or {}).get("message") or ""))
        if span.get("links"):
            notes.append(f"links={len(span['links'])}")
        service = (span.get("resource") or {}).get("service.name", "?")
        table.add_row(
            CRITICAL_MARK if critical else "",
            "  " * int(span.get("depth", 0)) + f"{span['name']} ({span.get('kind', '')})",
            str(service),
            bar,
            f"{(end - start) / 1e6:.3f}",
            " ".join(notes).strip(),
        )
    parts: list[Any] = [table, Text(f"{CRITICAL_MARK} = on the critical path; times adjusted for clock skew")]
    for diag in doc.get("diagnostics") or ():
        parts.append(
            Text(f"{diag['code']}  {diag.get('span_id') or '-'}  {diag.get('message', '')}", style="yellow")
        )
    for link in doc.get("links") or ():
        state = "resolved" if link.get("resolved") else "other trace"
        parts.append(
            Text(f"link  {link['span_id']} -> {link['trace_id']}/{link['linked_span_id']} ({state})")
        )
    for link in doc.get("linked_from") or ():
        parts.append(Text(f"linked from  {link['trace_id']}/{link['span_id']} -> {link['linked_span_id']}"))
    return Group(*parts)
