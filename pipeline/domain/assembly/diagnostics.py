"""Propagation diagnostics that a single trace can decide (DESIGN.md §3)."""

from __future__ import annotations

from pipeline.domain.assembly.model import (
    NO_PARENT,
    QUEUE_PARENT_CHILD,
    SAMPLING_INCONSISTENT,
    WorkingTrace,
)
from pipeline.domain.span import FLAG_SAMPLED


def diagnose_propagation(work: WorkingTrace) -> WorkingTrace:
    """Flag CONSUMER spans parented by a PRODUCER (should be a link) and sampled-flag flips."""
    spans, parent, diagnostics = work.spans, work.parent, work.diagnostics
    for i, p in enumerate(parent):
        if p == NO_PARENT:
            continue
        span, up = spans[i], spans[p]
        if span.kind == "CONSUMER" and up.kind == "PRODUCER":
            diagnostics.append(
                (
                    i,
                    QUEUE_PARENT_CHILD,
                    f"CONSUMER span is a child of PRODUCER span {up.span_id}; a link is expected",
                )
            )
        if (span.flags ^ up.flags) & FLAG_SAMPLED:
            diagnostics.append(
                (
                    i,
                    SAMPLING_INCONSISTENT,
                    f"sampled={span.sampled} but parent {up.span_id} has sampled={up.sampled}",
                )
            )
    return work
