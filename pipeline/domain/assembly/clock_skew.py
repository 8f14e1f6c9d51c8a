"""Clock-skew correction, following Jaeger's adjuster (jaegertracing/jaeger, model/adjuster/clockskew.go).

Walk each tree from its root. A span on a different host from its parent (or with no known
host: it matches no other span) is compared with its parent's *adjusted* times: if it starts
before the parent or ends after it, it is shifted — centred inside the parent when it is not
longer (the latency `(parent_dur - child_dur) / 2` split evenly between request and response),
else moved to start with the parent (only when it starts before the parent, as in Jaeger). A
span on the same host as its parent inherits the parent's shift. A shift larger than
`max_clock_skew_adjustment_ns` is not applied (CLOCK_SKEW_EXCEEDED); 0 disables correction.
Raw times stay on the span; adjusted times go to `WorkingTrace.start/end`.
"""

from __future__ import annotations

from pipeline.domain.assembly.model import CLOCK_SKEW_ADJUSTED, CLOCK_SKEW_EXCEEDED, WorkingTrace
from pipeline.domain.span import span_host


def skew_delta(child_start: int, child_end: int, parent_start: int, parent_end: int) -> int:
    """The shift (ns) Jaeger's `calculateSkew` gives a cross-host child against its adjusted parent."""
    parent_dur = parent_end - parent_start
    child_dur = child_end - child_start
    if child_dur > parent_dur:
        # Longer than its parent: async, or the parent timed out; only stop it starting early.
        return parent_start - child_start if child_start < parent_start else 0
    if child_start >= parent_start and child_end <= parent_end:
        return 0
    latency = (parent_dur - child_dur) // 2  # >= 0 here, so floor equals Go's truncation
    return parent_start + latency - child_start


def shift_children(work: WorkingTrace, p: int, kids: list[int]) -> bool:
    """Shift the children of the (already adjusted) span `p`; called parent before children.

    Returns:
        Whether any child moved (its siblings' order may then have changed).
    """
    moved = False
    start, end, skew, spans = work.start, work.end, work.skew, work.spans
    p_start, p_end, p_skew = start[p], end[p], skew[p]
    host: str | None = None
    host_known = False
    for c in kids:
        c_start, c_end = start[c], end[c]
        if not p_skew and c_start >= p_start and c_end <= p_end:
            continue  # fits and inherits nothing: the common case, decided without the hosts
        # Hosts are looked up only here, for the few spans that need them.
        if not host_known:
            host, host_known = span_host(spans[p]), True
        c_host = span_host(spans[c])
        if c_host is not None and c_host == host:
            delta = p_skew
        else:
            delta = skew_delta(c_start, c_end, p_start, p_end)
            if not delta:
                continue
            max_ns = work.options.max_clock_skew_adjustment_ns
            if abs(delta) > max_ns:
                message = f"needed shift {delta} ns exceeds the maximum {max_ns} ns; not applied"
                work.diagnostics.append((c, CLOCK_SKEW_EXCEEDED, message))
                continue
            message = f"shifted by {delta} ns against parent {work.span_ids[p]} on host {host or 'unknown'}"
            work.diagnostics.append((c, CLOCK_SKEW_ADJUSTED, message))
        if delta:
            skew[c] = delta
            start[c] = c_start + delta
            end[c] = c_end + delta
            moved = True
    return moved
