"""Critical path, following jaeger-ui's algorithm
(jaegertracing/jaeger-ui, packages/jaeger-ui/src/components/TracePage/CriticalPath/).

Per root, on adjusted times:
1. non-blocking spans leave the tree with their descendants: a CONSUMER child of a PRODUCER
   runs asynchronously (jaeger-ui `filterBlockingSpans`);
2. children are clamped to their (clamped) parent, and dropped when wholly outside it
   (`sanitizeOverFlowingChildren`);
3. from the root, take the last-finishing child (LFC); the parent's part after the LFC's end is
   on the path; descend into the LFC; a span with no LFC left is on the path from its start,
   and the walk returns to its parent looking for the LFC that ends before that start
   (`computeCriticalPath`, `findLastFinishingChildSpan`). Ties go to the earlier sibling.
Jaeger-ui emits sections backwards in time; obspipe reverses them so each root's are in time order.
"""

from __future__ import annotations

from pipeline.domain.assembly.model import NO_PARENT, WorkingTrace


def compute_critical_path(work: WorkingTrace) -> WorkingTrace:
    """Fill `critical_path` (root by root, time-ordered) and `on_critical_path`."""
    n = len(work.spans)
    order, parent, children = work.order, work.parent, work.children
    kinds = [s.kind for s in work.spans]
    a_start, a_end = work.start, work.end
    cs = [0] * n  # clamped start/end, valid where alive
    ce = [0] * n
    alive = [False] * n
    # Pre-order means a parent is clamped before its children.
    for i in order:
        p = parent[i]
        s, e = a_start[i], a_end[i]
        if p == NO_PARENT:
            alive[i], cs[i], ce[i] = True, s, e
            continue
        if not alive[p] or (kinds[i] == "CONSUMER" and kinds[p] == "PRODUCER"):
            continue
        ps, pe = cs[p], ce[p]
        if s >= ps:
            if s >= pe:
                continue
            e = min(e, pe)
        elif e <= ps:
            continue
        else:
            s = ps
            e = min(e, pe)
        alive[i], cs[i], ce[i] = True, s, e

    on_path = [False] * n
    path: list[tuple[int, int, int]] = []
    # Children of a span sorted by clamped end, latest first (stable: ties keep sibling order),
    # with a cursor: the bound `returning` only decreases for a given parent, so the LFC
    # search resumes where it stopped instead of rescanning (linear, not quadratic, in fan-out).
    by_end: dict[int, list[int]] = {}
    cursor: dict[int, int] = {}
    for root in work.roots:
        sections: list[tuple[int, int, int]] = []
        cur = root
        returning: int | None = None
        while True:
            kids = by_end.get(cur)
            if kids is None:
                kids = sorted((c for c in children[cur] if alive[c]), key=ce.__getitem__, reverse=True)
                # sorted(reverse=True) keeps equal keys in their original order, as wanted
                by_end[cur] = kids
                cursor[cur] = 0
            k = cursor[cur]
            if returning is not None:
                while k < len(kids) and ce[kids[k]] >= returning:
                    k += 1
                cursor[cur] = k
            section_end = ce[cur] if returning is None else returning
            if k < len(kids):
                lfc = kids[k]
                cursor[cur] = k + 1
                if ce[lfc] != section_end:
                    sections.append((cur, ce[lfc], section_end))
                cur, returning = lfc, None
                continue
            if cs[cur] != section_end:
                sections.append((cur, cs[cur], section_end))
            if cur == root:
                break
            cur, returning = parent[cur], cs[cur]
        sections.reverse()
        for i, _, _ in sections:
            on_path[i] = True
        path.extend(sections)
    work.critical_path, work.on_critical_path = path, on_path
    return work
