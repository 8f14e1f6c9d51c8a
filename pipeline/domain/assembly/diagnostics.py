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
    for i in work.async_children:
        message = f"CONSUMER span is a child of PRODUCER span {spans[i].parent_span_id}; a link is expected"
        diagnostics.append((i, QUEUE_PARENT_CHILD, message))
    flags = [s.flags for s in spans]
    if len(set(flags)) < 2 or len({f & FLAG_SAMPLED for f in flags}) < 2:
        return work  # all agree: no pair can disagree (equal flags, the usual case, decide it in C)
    for i, p in enumerate(parent):
        if p != NO_PARENT and (flags[i] ^ flags[p]) & FLAG_SAMPLED:
            span, up = spans[i], spans[p]
            diagnostics.append(
                (
                    i,
                    SAMPLING_INCONSISTENT,
                    f"sampled={span.sampled} but parent {up.span_id} has sampled={up.sampled}",
                )
            )
    return work
