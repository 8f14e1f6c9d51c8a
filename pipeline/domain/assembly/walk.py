"""The tree walk: tree order, clock-skew correction and self time in one pre-order pass.

One pass rather than three because each needs the same thing at the same moment — a parent
already adjusted, its children about to be visited — and per-span passes are what assembly
time is made of (see benchmarks/assemble.py).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.domain.assembly.clock_skew import shift_children
from pipeline.domain.assembly.model import WorkingTrace
from pipeline.domain.assembly.timing import children_cover_ns
from pipeline.domain.assembly.tree import break_cycles


def sibling_key(start: list[int], ids: list[str], rank: list[int]) -> Callable[[int], tuple[int, str, int]]:
    """Sort key of sibling spans: adjusted start, then span id, then copy rank.

    Made by a factory rather than a closure inside `walk_tree`, whose hot locals would
    otherwise become (slower) cell variables.
    """

    def key(i: int) -> tuple[int, str, int]:
        return (start[i], ids[i], rank[i])

    return key


def walk_tree(work: WorkingTrace) -> WorkingTrace:
    """DFS pre-order from the roots; roots and siblings by adjusted start, then span id, then copy.

    At each span: shift its children for clock skew (its own times are final by then), sort
    them, and subtract their clamped union from its duration (self time). Spans caught in
    parent cycles are reached last, from the cycles' cuts (`tree.break_cycles`).
    """
    spans = work.spans
    n = len(spans)
    start = work.start  # raw starts from `collapse_duplicates`, adjusted here in place
    end = [s.end_time_unix_nano for s in spans]
    work.end, work.skew = end, [0] * n
    covered = [0] * n  # by the children's clamped union; self time = duration - covered
    depth = [0] * n
    order: list[int] = []
    correct = work.options.max_clock_skew_adjustment_ns > 0
    children, ids, rank = work.children, work.span_ids, work.dup_rank

    skew = work.skew
    overflow = False
    roots = list(work.roots)  # in raw-start order, which for roots is adjusted-start order
    pending = roots
    while True:
        stack = pending[::-1]
        while stack:
            p = stack.pop()
            order.append(p)
            kids = children[p]
            if not kids:
                continue
            p_start, p_end = start[p], end[p]
            if len(kids) == 1:  # the commonest parent: one child, handled without loops
                c = kids[0]
                depth[c] = depth[p] + 1
                if skew[p] or start[c] < p_start or end[c] > p_end:
                    if correct:
                        shift_children(work, p, kids)
                    if not overflow:
                        overflow = start[c] < p_start or end[c] > p_end
                # The child clamped to its parent, without min()/max() calls (this is per span).
                c_start, c_end = start[c], end[c]
                if c_start < p_start:  # noqa: PLR1730 - max() costs a call per span
                    c_start = p_start
                if c_end > p_end:  # noqa: PLR1730 - min() likewise
                    c_end = p_end
                if c_end > c_start:
                    covered[p] = c_end - c_start
                stack.append(c)
                continue
            d = depth[p] + 1
            fits = not skew[p]
            # While the children fit inside the parent (the usual case), the union of their
            # intervals is summed in this same pass: they are in start order and need no clamping.
            union = 0
            run_s = run_e = p_start
            for c in kids:
                depth[c] = d
                if fits:
                    c_start, c_end = start[c], end[c]
                    if c_start < p_start or c_end > p_end:
                        fits = False
                    elif c_end <= c_start:
                        pass  # no duration (built unchecked): covers nothing, as in children_cover_ns
                    elif c_start > run_e:
                        union += run_e - run_s
                        run_s, run_e = c_start, c_end
                    elif c_end > run_e:
                        run_e = c_end
            # Children are indexed in raw-start order (tree.collapse_duplicates): they need
            # sorting again only when the skew correction moved one of them.
            if not fits:
                if correct and shift_children(work, p, kids):
                    kids.sort(key=sibling_key(start, ids, rank))
                if not overflow:  # tells the critical path whether any clamping is needed
                    overflow = any(start[c] < p_start or end[c] > p_end for c in kids)
                covered[p] = children_cover_ns(p_start, p_end, kids, start, end)
            else:
                covered[p] = union + run_e - run_s
            stack.extend(reversed(kids))
        if len(order) == n:
            break
        # The rest hang off parent cycles: cut them and walk on from the cuts.
        reached = [False] * n
        for i in order:
            reached[i] = True
        pending = sorted(break_cycles(work, reached), key=sibling_key(start, ids, rank))
        roots.extend(pending)
    work.roots, work.order, work.depth, work.covered = roots, order, depth, covered
    work.children_overflow = overflow
    return work
