"""Clock-skew correction, following Jaeger's adjuster (jaegertracing/jaeger, model/adjuster/clockskew.go).

Walk each tree from its root. A span on a different host from its parent (or with no known
host: it matches no other span) is compared with its parent's *adjusted* times: if it starts
before the parent or ends after it, it is shifted — centred inside the parent when it is
shorter (the latency `(parent_dur - child_dur) / 2` split evenly between request and
response), else moved to start with the parent (only when it starts before the parent, as in
Jaeger). A span on the same host as its parent inherits the parent's shift. A shift larger than
`max_clock_skew_adjustment_ns` is not applied (reported as CLOCK_SKEW_EXCEEDED); 0 disables
correction. Raw times stay on the span; adjusted times go to `WorkingTrace.start/end`.
"""

from __future__ import annotations

from pipeline.domain.assembly.model import CLOCK_SKEW_ADJUSTED, CLOCK_SKEW_EXCEEDED, WorkingTrace


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


def correct_clock_skew(work: WorkingTrace) -> WorkingTrace:
    """Compute every span's shift top-down from the roots; fill adjusted start/end and skew."""
    spans = work.spans
    start = [s.start_time_unix_nano for s in spans]
    end = [s.end_time_unix_nano for s in spans]
    n = len(spans)
    skew = [0] * n
    work.start, work.end, work.skew = start, end, skew
    max_ns = work.options.max_clock_skew_adjustment_ns
    if max_ns == 0:
        return work
    children = work.children
    hosts = [s.host for s in spans]
    diagnostics = work.diagnostics
    todo = list(work.roots)
    for p in todo:  # grows while iterated: breadth-first, so a parent is adjusted before its children
        kids = children[p]
        if not kids:
            continue
        todo.extend(kids)
        host = hosts[p]
        p_start, p_end, p_skew = start[p], end[p], skew[p]
        for c in kids:
            c_host = hosts[c]
            if c_host is not None and c_host == host:
                delta = p_skew
            else:
                delta = skew_delta(start[c], end[c], p_start, p_end)
                if delta:
                    if abs(delta) > max_ns:
                        diagnostics.append(
                            (
                                c,
                                CLOCK_SKEW_EXCEEDED,
                                f"needed shift {delta} ns exceeds the maximum {max_ns} ns; not applied",
                            )
                        )
                        delta = 0
                    else:
                        diagnostics.append(
                            (
                                c,
                                CLOCK_SKEW_ADJUSTED,
                                f"shifted by {delta} ns against parent on host {host or 'unknown'}",
                            )
                        )
            if delta:
                skew[c] = delta
                start[c] += delta
                end[c] += delta
    return work
