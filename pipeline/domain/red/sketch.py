"""A mergeable quantile sketch with relative-error guarantees.

Follows DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
with Relative-Error Guarantees", VLDB 2019): a positive value x falls in bucket
k = ceil(log_gamma(x)) with gamma = (1 + a) / (1 - a); the bucket's representative
2 * gamma**k / (gamma + 1) is within relative error a of every value in the bucket, so every
quantile estimate is too. Two sketches with the same `a` merge by adding bucket counts, which
is exact: merging is how windows and workers combine downstream.

The sketch travels inside `metrics.red` records as a compact JSON object (`to_json`): the
bucket counts are a dense array from the lowest occupied key, since latencies cluster.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ValidationError

DEFAULT_RELATIVE_ACCURACY = 0.01
# Values at or below this (in the sketch's unit, milliseconds for RED) count as zero: they
# would otherwise need keys far below anything a latency produces.
MIN_INDEXABLE = 1e-9
# Bound on the number of buckets (the paper's collapsing variant). With a = 1 %, 2048 buckets
# span a ratio of gamma**2048 ~ 1e17 between the smallest and largest value kept exactly,
# wider than any latency range, so collapsing only guards against hostile input.
DEFAULT_MAX_BUCKETS = 2048


@dataclass(slots=True)
class DDSketch:
    """A DDSketch over non-negative values; negative values are counted as zero."""

    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY
    max_buckets: int = DEFAULT_MAX_BUCKETS
    bins: dict[int, int] = field(default_factory=dict)
    zero_count: int = 0
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def __post_init__(self) -> None:
        if not 0.0 < self.relative_accuracy < 1.0:
            raise ValueError(f"relative_accuracy must be in (0, 1), got {self.relative_accuracy}")

    @property
    def gamma(self) -> float:
        return (1.0 + self.relative_accuracy) / (1.0 - self.relative_accuracy)

    def key(self, value: float) -> int:
        """The bucket of a positive value: ceil(log_gamma(value))."""
        return math.ceil(math.log(value) / math.log(self.gamma))

    def value(self, key: int) -> float:
        """The bucket's representative value, within relative accuracy of all its members."""
        gamma = self.gamma
        return 2.0 * gamma**key / (gamma + 1.0)

    def add(self, value: float) -> None:
        """Add one value."""
        self.add_many((value,))

    def add_many(self, values: Iterable[float]) -> None:
        """Add values; hoists the logarithm constant out of the loop, which matters per span."""
        vals = list(values)
        if not vals:
            return
        inv_log_gamma = 1.0 / math.log(self.gamma)
        bins = self.bins
        log = math.log
        ceil = math.ceil
        zeros = 0
        total = 0.0
        for v in vals:
            if v > MIN_INDEXABLE:
                k = ceil(log(v) * inv_log_gamma)
                bins[k] = bins.get(k, 0) + 1
                total += v
            else:
                zeros += 1
        self.count += len(vals)
        self.zero_count += zeros
        self.total += total
        lo, hi = min(vals), max(vals)
        self.min = min(self.min, max(lo, 0.0))
        self.max = max(self.max, hi, 0.0)
        if len(bins) > self.max_buckets:
            self._collapse()

    def merge(self, other: DDSketch) -> None:
        """Add another sketch's counts into this one (exact: bucket counts simply add).

        Raises:
            ValueError: the sketches have different relative accuracies.
        """
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                f"cannot merge sketches of relative accuracy {other.relative_accuracy} "
                f"and {self.relative_accuracy}"
            )
        bins = self.bins
        for k, c in other.bins.items():
            bins[k] = bins.get(k, 0) + c
        self.zero_count += other.zero_count
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if len(bins) > self.max_buckets:
            self._collapse()

    def quantile(self, q: float) -> float | None:
        """Estimate the value of rank floor(q * (count - 1)) (0-based) in sorted order.

        Returns None for an empty sketch. The estimate is within the relative accuracy of that
        value, and clamped to the exact [min, max] seen.
        """
        if self.count == 0:
            return None
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        rank = math.floor(q * (self.count - 1))
        if rank < self.zero_count:
            return 0.0
        seen = self.zero_count
        for k in sorted(self.bins):
            seen += self.bins[k]
            if seen > rank:
                return min(max(self.value(k), self.min), self.max)
        return self.max

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the sorted buckets."""
        wanted = sorted((q, i) for i, q in enumerate(qs))
        out: list[float | None] = [None] * len(wanted)
        if self.count == 0:
            return out
        keys = sorted(self.bins)
        idx = 0
        seen = self.zero_count
        for q, i in wanted:
            rank = math.floor(q * (self.count - 1))
            if rank < self.zero_count:
                out[i] = 0.0
                continue
            while idx < len(keys) and seen + self.bins[keys[idx]] <= rank:
                seen += self.bins[keys[idx]]
                idx += 1
            if idx == len(keys):
                out[i] = self.max
            else:
                out[i] = min(max(self.value(keys[idx]), self.min), self.max)
        return out

    def count_at_most(self, threshold: float) -> int:
        """How many values are at most `threshold`, judged by bucket representative.

        Exact except within the relative accuracy around the threshold.
        """
        if threshold < 0:
            return 0
        n = self.zero_count
        if threshold <= MIN_INDEXABLE:
            return n
        limit = self.key(threshold)
        for k, c in self.bins.items():
            if k < limit or (k == limit and self.value(k) <= threshold):
                n += c
        return n

    def _collapse(self) -> None:
        """Fold the lowest buckets into one so that at most max_buckets remain (paper §2.2)."""
        keys = sorted(self.bins)
        excess = len(keys) - self.max_buckets
        target = keys[excess]
        folded = sum(self.bins.pop(k) for k in keys[:excess])
        self.bins[target] += folded

    def to_json(self) -> dict[str, Any]:
        """The compact JSON form: dense counts from `offset` upward."""
        if self.bins:
            lo, hi = min(self.bins), max(self.bins)
            counts = [self.bins.get(k, 0) for k in range(lo, hi + 1)]
        else:
            lo, counts = 0, []
        return {
            "alpha": self.relative_accuracy,
            "zero": self.zero_count,
            "offset": lo,
            "counts": counts,
            "count": self.count,
            "sum": self.total,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> DDSketch:
        """Rebuild a sketch from `to_json` output.

        Raises:
            ValidationError: the object is not a sketch or its counts do not add up.
        """
        if not isinstance(data, dict):
            raise ValidationError("sketch must be an object", field="sketch")
        try:
            alpha = float(data["alpha"])
            zero = int(data["zero"])
            offset = int(data["offset"])
            counts = [int(c) for c in data["counts"]]
            count = int(data["count"])
            total = float(data["sum"])
            lo = math.inf if data.get("min") is None else float(data["min"])
            hi = -math.inf if data.get("max") is None else float(data["max"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"sketch is malformed: {exc!r}", field="sketch") from None
        if not 0.0 < alpha < 1.0 or zero < 0 or any(c < 0 for c in counts):
            raise ValidationError("sketch has an invalid accuracy or negative counts", field="sketch")
        if zero + sum(counts) != count:
            raise ValidationError("sketch counts do not add up to its count", field="sketch")
        bins = {offset + i: c for i, c in enumerate(counts) if c}
        return cls(
            relative_accuracy=alpha, bins=bins, zero_count=zero, count=count, total=total, min=lo, max=hi
        )
