"""Tree building: duplicate collapse, parent links, roots and orphans, cycle breaking, tree order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.domain.assembly.model import (
    DUPLICATE_SPAN_ID,
    MULTIPLE_ROOTS,
    NO_PARENT,
    ORPHAN_SPAN,
    PARENT_CYCLE,
    TRACE_LEVEL,
    AssemblyOptions,
    WorkingTrace,
)
from pipeline.domain.span import Span


def _canonical_key(span: Span) -> tuple[Any, ...]:
    """A total order on conflicting copies of one span id, so the result ignores arrival order."""
    return (
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        span.name,
        span.kind,
        span.parent_span_id or "",
        span.service_name,
        span.status_code,
        span.status_message,
        repr(sorted(span.resource.items())),
        repr(sorted(span.attributes.items())),
        repr([(ln.trace_id, ln.span_id, sorted(ln.attributes.items()), ln.trace_state) for ln in span.links]),
        span.trace_state,
        span.flags,
    )


def collapse_duplicates(trace_id: str, spans: Sequence[Span], options: AssemblyOptions) -> WorkingTrace:
    """Index spans by id: exact re-deliveries collapse into one; conflicting copies are all kept.

    Conflicting copies are ordered canonically (`_canonical_key`); the first one is the one that
    children attach to, and the span id is flagged DUPLICATE_SPAN_ID once.
    """
    kept: list[Span] = []
    index: dict[str, int] = {}
    extra: dict[str, list[int]] | None = None  # span id -> indexes of every copy, only on collision
    for span in spans:
        sid = span.span_id
        first = index.get(sid)
        if first is None:
            index[sid] = len(kept)
            kept.append(span)
            continue
        if extra is None:
            extra = {}
        copies = extra.setdefault(sid, [first])
        if any(kept[c] == span for c in copies):
            continue  # an exact re-delivery
        copies.append(len(kept))
        kept.append(span)

    work = WorkingTrace(
        trace_id=trace_id,
        options=options,
        spans=kept,
        span_ids=[s.span_id for s in kept],
        dup_rank=[0] * len(kept),
        index=index,
    )
    if extra:
        for sid in sorted(extra):
            copies = extra[sid]
            if len(copies) < 2:
                continue
            # Reassign the slots so that slot order is canonical order; indexes stay valid.
            copies.sort()
            ordered = sorted((kept[c] for c in copies), key=_canonical_key)
            for rank, (slot, span) in enumerate(zip(copies, ordered, strict=True)):
                kept[slot] = span
                work.dup_rank[slot] = rank
            work.diagnostics.append(
                (copies[0], DUPLICATE_SPAN_ID, f"{len(copies)} conflicting copies of span {sid} are kept")
            )
    return work


def link_parents(work: WorkingTrace) -> WorkingTrace:
    """Attach each span to its parent; spans without one are roots, with a missing one orphans."""
    n = len(work.spans)
    parent = [NO_PARENT] * n
    children: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    true_roots = 0
    index = work.index
    diagnostics = work.diagnostics
    for i, span in enumerate(work.spans):
        pid = span.parent_span_id
        if not pid:
            roots.append(i)
            true_roots += 1
            continue
        p = index.get(pid)
        if p is None:
            roots.append(i)
            work.orphans.append(i)
            diagnostics.append((i, ORPHAN_SPAN, f"parent {pid} is not in the trace"))
            continue
        parent[i] = p
        children[p].append(i)
    if true_roots > 1:
        diagnostics.append((TRACE_LEVEL, MULTIPLE_ROOTS, f"{true_roots} spans have no parent"))
    work.parent, work.children, work.roots = parent, children, roots
    return work


def _reach(children: list[list[int]], starts: list[int], reached: list[bool]) -> int:
    """Mark every span below `starts`; return how many were newly marked."""
    todo = list(starts)
    count = 0
    for i in todo:  # the list grows while iterated: a breadth-first walk without a deque
        if not reached[i]:
            reached[i] = True
            count += 1
            todo.extend(children[i])
    return count


def break_cycles(work: WorkingTrace) -> WorkingTrace:
    """Break parent cycles: spans unreachable from any root sit on or below a cycle.

    Each cycle is cut at its member with the earliest raw start (then span id, then copy rank),
    which becomes a root flagged PARENT_CYCLE; every span still appears exactly once.
    """
    n = len(work.spans)
    reached = [False] * n
    if _reach(work.children, work.roots, reached) == n:
        return work
    spans, parent, children = work.spans, work.parent, work.children
    for i in range(n):
        if reached[i]:
            continue
        # Following parents from an unreachable span never meets a root, so it ends in a cycle.
        seen: dict[int, int] = {}
        j = i
        while j not in seen:
            seen[j] = len(seen)
            j = parent[j]
        path = list(seen)
        cycle = path[seen[j] :]
        cut = min(cycle, key=lambda c: (spans[c].start_time_unix_nano, work.span_ids[c], work.dup_rank[c]))
        chain = " -> ".join(work.span_ids[c] for c in cycle)
        children[parent[cut]].remove(cut)
        parent[cut] = NO_PARENT
        work.roots.append(cut)
        work.diagnostics.append((cut, PARENT_CYCLE, f"parent chain {chain} loops; cut above this span"))
        _reach(children, [cut], reached)
    return work


def order_tree(work: WorkingTrace) -> WorkingTrace:
    """Tree order: DFS pre-order from the roots; roots and siblings by adjusted start, then id."""
    start, ids, rank = work.start, work.span_ids, work.dup_rank

    def key(i: int) -> tuple[int, str, int]:
        return (start[i], ids[i], rank[i])

    n = len(work.spans)
    children = work.children
    depth = [0] * n
    order: list[int] = []
    roots = sorted(work.roots, key=key)
    stack = roots[::-1]
    while stack:
        i = stack.pop()
        order.append(i)
        kids = children[i]
        if kids:
            if len(kids) > 1:
                kids.sort(key=key)
            d = depth[i] + 1
            for c in kids:
                depth[c] = d
            stack.extend(reversed(kids))
    position = [0] * n
    for k, i in enumerate(order):
        position[i] = k
    work.roots, work.order, work.depth, work.position = roots, order, depth, position
    work.orphans.sort(key=position.__getitem__)
    return work
