"""Per-minute (good, total) buckets with sliding-window sums kept incrementally.

A window of W minutes at minute t covers minutes t-W+1..t. Stepping from t-1 to t adds bucket t
and subtracts bucket t-W, so one evaluation costs O(number of windows) whatever their length
(30 days of minutes is 43,200 buckets; re-summing them every minute would be far too slow for
`obspipe slo replay`). A bucket changed after its minute was passed (late data) adjusts the sums
of every window that covers it. Minutes are integers: unix time // 60 s.
"""

from __future__ import annotations

from collections.abc import Sequence

NS_PER_MINUTE = 60_000_000_000


class SlidingWindows:
    """Buckets plus running (good, total) sums for a fixed set of window lengths (minutes)."""

    def __init__(self, lengths: Sequence[int]) -> None:
        self.lengths = tuple(lengths)
        self.longest = max(self.lengths)
        self.good: dict[int, int] = {}
        self.total: dict[int, int] = {}
        self.sum_good = [0] * len(self.lengths)
        self.sum_total = [0] * len(self.lengths)
        self.minute: int | None = None  # the minute the sums end at
        self._pruned_through: int | None = None

    def add(self, minute: int, good: int, total: int) -> None:
        """Add to a bucket (negative deltas correct an earlier contribution)."""
        # Both dicts always hold the same minutes (advance relies on it).
        self.good[minute] = self.good.get(minute, 0) + good
        self.total[minute] = self.total.get(minute, 0) + total
        t = self.minute
        if t is None or minute > t:
            return
        for i, length in enumerate(self.lengths):
            if minute > t - length:
                self.sum_good[i] += good
                self.sum_total[i] += total

    def advance(self, minute: int) -> None:
        """Move the end of every window to `minute` (never backwards)."""
        t = self.minute
        if t is not None and minute <= t:
            return
        if t is None or minute - t > self.longest:
            self._recompute(minute)
            return
        good, total = self.good, self.total
        sg, st = self.sum_good, self.sum_total
        indexed = tuple(enumerate(self.lengths))
        for m in range(t + 1, minute + 1):
            g_in = good.get(m, 0)
            t_in = total.get(m, 0)
            for i, length in indexed:
                old = m - length
                if old in total:  # a bucket leaving the window; most minutes have one
                    sg[i] += g_in - good[old]
                    st[i] += t_in - total[old]
                elif t_in or g_in:
                    sg[i] += g_in
                    st[i] += t_in
        self.minute = minute

    def _recompute(self, minute: int) -> None:
        good, total = self.good, self.total
        for i, length in enumerate(self.lengths):
            lo = minute - length
            if length < len(total):
                covered = [m for m in range(lo + 1, minute + 1) if m in total]
            else:
                covered = [m for m in total if lo < m <= minute]
            self.sum_good[i] = sum(good[m] for m in covered)
            self.sum_total[i] = sum(total[m] for m in covered)
        self.minute = minute

    def prune(self) -> None:
        """Forget buckets no window can reach any more."""
        if self.minute is None:
            return
        oldest = self.minute - self.longest
        start = self._pruned_through
        for buckets in (self.good, self.total):
            if start is None or oldest - start > len(buckets):
                for m in [m for m in buckets if m <= oldest]:
                    del buckets[m]
            else:  # walk only the minutes that expired since the last prune
                for m in range(start + 1, oldest + 1):
                    buckets.pop(m, None)
        self._pruned_through = oldest

    def sums(self, index: int) -> tuple[int, int]:
        """(good, total) of window `index` (in the order of `lengths`)."""
        return self.sum_good[index], self.sum_total[index]
