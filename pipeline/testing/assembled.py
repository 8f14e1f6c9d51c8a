"""Small assembled traces for tests of what stores, shows or forwards them."""

from __future__ import annotations

from typing import Any

from pipeline.domain.assembly import assemble_trace
from pipeline.domain.span import Span, SpanLink

ROOT_SPAN_ID = "0" * 15 + "1"
CHILD_SPAN_ID = "0" * 15 + "2"
LINKED_SPAN_ID = "1" * 16


def sample_trace(
    trace_id: str,
    start_ns: int,
    *,
    error: bool = False,
    revision: int = 1,
    link_to: str | None = None,
    with_child: bool = True,
) -> dict[str, Any]:
    """An assembled record: root "GET /" on service web (ERROR if `error`, linking to span
    LINKED_SPAN_ID of trace `link_to` if given), and a child "SELECT" on service db."""
    links = [SpanLink(link_to, LINKED_SPAN_ID)] if link_to else []
    root = Span(trace_id, ROOT_SPAN_ID, "GET /", start_ns, start_ns + 100, "web", kind="SERVER",
                status_code="ERROR" if error else "UNSET", links=links)  # fmt: skip
    spans = [root]
    if with_child:
        spans.append(Span(trace_id, CHILD_SPAN_ID, "SELECT", start_ns + 10, start_ns + 50, "db",
                          parent_span_id=ROOT_SPAN_ID))  # fmt: skip
    return assemble_trace(trace_id, spans, revision=revision)
