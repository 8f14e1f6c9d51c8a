"""Critical path, following jaeger-ui's algorithm
(jaegertracing/jaeger-ui, packages/jaeger-ui/src/components/TracePage/CriticalPath/).

Per root, on adjusted times:
1. non-blocking spans leave the tree with their descendants: a CONSUMER child of a PRODUCER
   runs asynchronously (jaeger-ui `filterBlockingSpans`);
2. children are clamped to their (clamped) parent, and dropped with their descendants when
   wholly outside it (`sanitizeOverFlowingChildren`);
3. from the root, take the last-finishing child (LFC); the parent's part after the LFC's end is
   on the path; descend into the LFC; a span with no LFC left is on the path from its start,
   and the walk returns to its parent looking for the LFC that ends before that start
   (`computeCriticalPath`, `findLastFinishingChildSpan`). Ties go to the earlier sibling.
Jaeger-ui emits sections backwards in time; obspipe reverses them so each root's are in time order.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.assembly.model import NO_PARENT, WorkingTrace

_START, _END = "start_time_unix_nano", "end_time_unix_nano"


def _nothing_to_clamp(work: WorkingTrace) -> bool:
    """No child sticks out of its parent and none is asynchronous: steps 1-2 change nothing."""
    return not work.children_overflow and not work.async_children


def _clamp(work: WorkingTrace) -> tuple[list[int], list[int], list[bool]]:
    """Steps 1-2: clamped start/end of every span, and whether it is still in the tree."""
    parent = work.parent
    alive = [True] * len(work.start)
    if _nothing_to_clamp(work):  # the common case
        return work.start, work.end, alive
    cs, ce = work.start[:], work.end[:]
    for c in work.async_children:
        if parent[c] != NO_PARENT:  # a cycle cut may have made it a root; roots stay
            alive[c] = False
    for i in work.order:  # pre-order: a parent is clamped before its children
        p = parent[i]
        if p == NO_PARENT or not alive[i]:
            continue
        if not alive[p]:
            alive[i] = False
            continue
        s, e, ps, pe = cs[i], ce[i], cs[p], ce[p]
        if s >= ps:
            if e <= pe:
                continue  # fits: the common case
            if s >= pe:
                alive[i] = False
            else:
                ce[i] = pe
        elif e <= ps:
            alive[i] = False
        else:
            cs[i] = ps
            ce[i] = min(e, pe)
    return cs, ce, alive


def compute_critical_path(work: WorkingTrace) -> WorkingTrace:
    """Fill `critical_path` (root by root, each in time order, as the record's
    `{"span_id", "start_time_unix_nano", "end_time_unix_nano"}` entries) and `on_critical_path`."""
    cs, ce, alive = _clamp(work)
    everyone_alive = _nothing_to_clamp(work)
    n = len(cs)
    parent, children = work.parent, work.children
    on_path = [False] * n
    path: list[dict[str, Any]] = []
    ids = work.span_ids
    # A span's live children sorted by clamped end, latest first (sorted(reverse=True) is
    # stable: equal ends keep sibling order, so ties go to the earlier sibling), and a cursor:
    # the bound `returning` only decreases for a given span, so the LFC search resumes where
    # it stopped instead of rescanning (linear, not quadratic, in fan-out).
    by_end: list[list[int] | None] = [None] * n
    cursor = [0] * n
    for root in work.roots:
        sections: list[dict[str, Any]] = []  # the record's entries, made once here
        cur = root
        returning, returned = 0, False  # `returning` is meaningful only once `returned`
        while True:
            kids = by_end[cur]
            if kids is None:
                kids = children[cur] or []
                if len(kids) > 1:
                    live = kids if everyone_alive else [c for c in kids if alive[c]]
                    kids = sorted(live, key=ce.__getitem__, reverse=True)
                elif kids and not alive[kids[0]]:
                    kids = []
                by_end[cur] = kids
            k = cursor[cur]
            if returned:
                while k < len(kids) and ce[kids[k]] >= returning:
                    k += 1
                section_end = returning
            else:
                section_end = ce[cur]
            if k < len(kids):
                lfc = kids[k]
                cursor[cur] = k + 1
                if ce[lfc] != section_end:
                    sections.append({"span_id": ids[cur], _START: ce[lfc], _END: section_end})
                    on_path[cur] = True
                cur, returned = lfc, False
                continue
            cursor[cur] = k
            if cs[cur] != section_end:
                sections.append({"span_id": ids[cur], _START: cs[cur], _END: section_end})
                on_path[cur] = True
            if cur == root:
                break
            cur, returning, returned = parent[cur], cs[cur], True
        sections.reverse()
        path.extend(sections)
    work.on_critical_path, work.critical_path = on_path, path
    return work
