"""Self time: a span's duration minus the union of its children's intervals clamped to it."""

from __future__ import annotations

from pipeline.domain.assembly.model import WorkingTrace


def compute_self_times(work: WorkingTrace) -> WorkingTrace:
    """Fill `self_time` from adjusted times; children are already sorted by adjusted start."""
    start, end = work.start, work.end
    self_time = [max(0, e - s) for s, e in zip(start, end, strict=True)]
    for p, kids in enumerate(work.children):
        if not kids:
            continue
        p_start, p_end = start[p], end[p]
        covered = 0
        cur_s = cur_e = p_start  # the union's current run [cur_s, cur_e)
        for c in kids:  # a sweep over intervals sorted by start
            s = start[c] if start[c] > p_start else p_start
            e = end[c] if end[c] < p_end else p_end
            if e <= s:
                continue
            if s > cur_e:
                covered += cur_e - cur_s
                cur_s, cur_e = s, e
            elif e > cur_e:
                cur_e = e
        covered += cur_e - cur_s
        self_time[p] = max(0, self_time[p] - covered)
    work.self_time = self_time
    return work
