"""Tree building: duplicate collapse, parent links, roots and orphans, parent-cycle cuts."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
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


_START = attrgetter("start_time_unix_nano")
_RAW_ORDER = attrgetter("start_time_unix_nano", "span_id")


def collapse_duplicates(trace_id: str, spans: Sequence[Span], options: AssemblyOptions) -> WorkingTrace:
    """Index spans by id: exact re-deliveries collapse into one; conflicting copies are all kept.

    Spans are indexed in (raw start, span id, copy rank) order, so children lists come out in
    sibling order and need sorting again only where clock skew moved a child. Conflicting
    copies are ranked canonically (`_canonical_key`); children attach to rank 0, and the span
    id is flagged DUPLICATE_SPAN_ID once.
    """
    ordered = sorted(spans, key=_START)
    starts = [s.start_time_unix_nano for s in ordered]
    if len(set(starts)) < len(starts):  # equal starts: order those by span id too
        ordered = sorted(spans, key=_RAW_ORDER)
        starts = [s.start_time_unix_nano for s in ordered]
    index = {s.span_id: i for i, s in enumerate(ordered)}
    n = len(ordered)
    if len(index) == n:  # the common case: no span id seen twice
        work = WorkingTrace(trace_id, options, ordered, list(index), [0] * n, index)
        work.start = starts  # raw for now; `walk_tree` adjusts them in place
        return work
    copies: dict[str, list[Span]] = {}
    for span in spans:
        same = copies.setdefault(span.span_id, [])
        if not any(c == span for c in same):  # else an exact re-delivery
            same.append(span)
    ranked = sorted(
        (
            (span.start_time_unix_nano, sid, rank, span)
            for sid, same in copies.items()
            for rank, span in enumerate(sorted(same, key=_canonical_key))
        ),
        key=lambda t: t[:3],
    )
    kept = [t[3] for t in ranked]
    work = WorkingTrace(trace_id, options, kept, [t[1] for t in ranked], [t[2] for t in ranked], {})
    work.start = [t[0] for t in ranked]
    index = work.index
    for i, (_, sid, rank, _) in enumerate(ranked):
        if rank == 0:
            index[sid] = i
    for _, sid, rank, _ in ranked:
        if rank == 1:
            n_copies = len(copies[sid])
            message = f"{n_copies} conflicting copies of span {sid} are kept"
            work.diagnostics.append((index[sid], DUPLICATE_SPAN_ID, message))
    return work


def link_parents(work: WorkingTrace) -> WorkingTrace:
    """Attach each span to its parent; spans without one are roots, with a missing one orphans.

    A CONSUMER span whose parent is a PRODUCER is recorded as an asynchronous child (it is off
    the critical path and is flagged QUEUE_PARENT_CHILD).
    """
    spans = work.spans
    n = len(spans)
    parent = [NO_PARENT] * n
    children: list[list[int] | None] = [None] * n
    roots: list[int] = []
    orphans: list[int] = []
    async_children: list[int] = []
    true_roots = 0
    index = work.index
    diagnostics = work.diagnostics
    for i, span in enumerate(spans):
        pid = span.parent_span_id
        if not pid:
            roots.append(i)
            true_roots += 1
            continue
        p = index.get(pid)
        if p is None:
            roots.append(i)
            orphans.append(i)
            diagnostics.append((i, ORPHAN_SPAN, f"parent {pid} is not in the trace"))
            continue
        parent[i] = p
        kids = children[p]
        if kids is None:
            children[p] = [i]
        else:
            kids.append(i)
        if span.kind == "CONSUMER" and spans[p].kind == "PRODUCER":
            async_children.append(i)
    if true_roots > 1:
        diagnostics.append((TRACE_LEVEL, MULTIPLE_ROOTS, f"{true_roots} spans have no parent"))
    work.parent, work.children, work.roots = parent, children, roots
    work.orphans, work.async_children = orphans, async_children
    return work


def break_cycles(work: WorkingTrace, reached: list[bool]) -> list[int]:
    """Break the parent cycles that keep the spans not `reached` from any root; return the cuts.

    Following parents from such a span never meets a root, so it ends in a cycle. Each cycle is
    cut at its member with the earliest raw start (then span id, then copy rank), which becomes
    a root flagged PARENT_CYCLE; every span still appears exactly once.
    """
    spans, parent, children, ids, rank = work.spans, work.parent, work.children, work.span_ids, work.dup_rank
    reached = list(reached)
    cuts: list[int] = []
    for i in range(len(spans)):
        if reached[i]:
            continue
        seen: dict[int, int] = {}
        j = i
        while j not in seen and not reached[j]:
            seen[j] = len(seen)
            j = parent[j]
        if j in seen:  # else this walk ran into a component already cut
            cycle = list(seen)[seen[j] :]
            cut = min(cycle, key=lambda c: (spans[c].start_time_unix_nano, ids[c], rank[c]))
            chain = " -> ".join(ids[c] for c in cycle)
            siblings = children[parent[cut]]
            if siblings is not None:  # always, as `cut` is one of them
                siblings.remove(cut)
            parent[cut] = NO_PARENT
            cuts.append(cut)
            work.diagnostics.append((cut, PARENT_CYCLE, f"parent chain {chain} loops; cut above this span"))
        for k in seen:
            reached[k] = True
    return cuts
