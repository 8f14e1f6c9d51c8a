"""Self time: a span's duration minus the union of its children's intervals clamped to it."""

from __future__ import annotations


def children_cover_ns(p_start: int, p_end: int, kids: list[int], start: list[int], end: list[int]) -> int:
    """Length of the union of the children's intervals clamped to [p_start, p_end].

    `kids` must be sorted by start (a sweep over sorted intervals, one pass).
    """
    covered = 0
    run_s = run_e = p_start  # the union's current run [run_s, run_e)
    for c in kids:
        s = start[c] if start[c] > p_start else p_start
        e = end[c] if end[c] < p_end else p_end
        if e <= s:
            continue
        if s > run_e:
            covered += run_e - run_s
            run_s, run_e = s, e
        elif e > run_e:
            run_e = e
    return covered + run_e - run_s
