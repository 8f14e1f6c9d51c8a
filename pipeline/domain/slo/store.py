"""Where SLO state lives between restarts: the port, and an in-memory implementation.

Buckets are built from *contributions*: one per (SLO, minute, source), where the source names
what produced it (a `metrics.red` key plus the input partition, or a metric series and sample
time). Re-applying a contribution is idempotent: a source's newest value replaces its old one and
only the difference reaches the bucket, so the replay that follows a kill -9 cannot count a
window twice. When a replayed RED window is smaller than the original (a replay starts at the
committed offset, so it can hold only part of a window emitted before the crash), the larger
total wins: a replayed window is a subset of the original one.

The Redis implementation is `pipeline.adapters.redis.slo_store.RedisSloStore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Contribution:
    """Good and total events one source adds to one minute of one SLO."""

    slo: str
    minute: int
    source: str
    good: int
    total: int


@dataclass(frozen=True, slots=True)
class BucketDelta:
    """How much a bucket changed when a contribution was stored."""

    slo: str
    minute: int
    good: int
    total: int


class SloStore(Protocol):
    """State of the slo-burn app that must survive a restart (DESIGN.md §5)."""

    def apply(self, contributions: list[Contribution]) -> list[BucketDelta]:
        """Store contributions idempotently; return the non-zero bucket changes."""
        ...

    def buckets(self, slo: str, since_minute: int) -> dict[int, tuple[int, int]]:
        """minute -> (good, total) of every bucket from `since_minute` on."""
        ...

    def bucket_values(self, slo: str, minutes: list[int]) -> dict[int, tuple[int, int]]:
        """minute -> (good, total) of the given minutes that have a bucket (what other workers added too)."""
        ...

    def report_watermarks(self, minutes: dict[str, int], now_s: float) -> None:
        """Raise the event-time watermark (newest minute seen) of input partitions, never lowering
        one, and note when each partition last reported (wall clock, for idleness)."""
        ...

    def watermarks(self) -> dict[str, tuple[int, float]]:
        """input partition -> (newest minute stored, wall-clock time of its last report)."""
        ...

    def prune(self, slo: str, before_minute: int) -> int:
        """Drop the buckets of minutes before `before_minute`; returns how many."""
        ...

    def last_samples(self, series: list[str]) -> dict[str, tuple[int, float]]:
        """series id -> (time, value) of the newest cumulative-counter sample stored."""
        ...

    def set_last_samples(self, samples: dict[str, tuple[int, float]]) -> None:
        """Remember the newest samples; stored only after their contributions (crash-safe order)."""
        ...

    def save_state(self, slo: str, state: dict[str, Any], status: dict[str, Any]) -> None:
        """Persist an evaluator's alert state and its latest slo.status record."""
        ...

    def load_state(self, slo: str) -> dict[str, Any] | None:
        """The alert state saved last, or None."""
        ...

    def statuses(self) -> dict[str, dict[str, Any]]:
        """slo name -> latest slo.status record, for `obspipe slo status`."""
        ...


def counter_increase(previous: tuple[int, float] | None, time_unix_nano: int, value: float) -> float | None:
    """The increase of a cumulative counter since its previous sample.

    None for the first sample of a series and for a sample not newer than the previous one
    (a replay); a decrease is a counter reset, whose increase is the new value (as Prometheus'
    `increase()` treats resets).
    """
    if previous is None:
        return None
    last_time, last_value = previous
    if time_unix_nano <= last_time:
        return None
    return value - last_value if value >= last_value else value


def replace_contribution(old: tuple[int, int] | None, good: int, total: int) -> tuple[int, int] | None:
    """The bucket change when a source's contribution becomes (good, total); None = keep the old one."""
    if old is None:
        return good, total
    old_good, old_total = old
    if total <= old_total:
        return None
    return good - old_good, total - old_total


@dataclass(slots=True)
class InMemorySloStore:
    """An `SloStore` in a dict: for unit tests, replays and the single-process demo."""

    contributions: dict[tuple[str, int, str], tuple[int, int]] = field(default_factory=dict)
    bucket_map: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    series: dict[str, tuple[int, float]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    marks: dict[str, tuple[int, float]] = field(default_factory=dict)
    status_map: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, contributions: list[Contribution]) -> list[BucketDelta]:
        out = []
        for c in contributions:
            key = (c.slo, c.minute, c.source)
            change = replace_contribution(self.contributions.get(key), c.good, c.total)
            if change is None:
                continue
            self.contributions[key] = (c.good, c.total)
            buckets = self.bucket_map.setdefault(c.slo, {})
            good, total = buckets.get(c.minute, (0, 0))
            buckets[c.minute] = (good + change[0], total + change[1])
            if change != (0, 0):
                out.append(BucketDelta(c.slo, c.minute, *change))
        return out

    def buckets(self, slo: str, since_minute: int) -> dict[int, tuple[int, int]]:
        return {m: v for m, v in self.bucket_map.get(slo, {}).items() if m >= since_minute}

    def bucket_values(self, slo: str, minutes: list[int]) -> dict[int, tuple[int, int]]:
        buckets = self.bucket_map.get(slo, {})
        return {m: buckets[m] for m in minutes if m in buckets}

    def report_watermarks(self, minutes: dict[str, int], now_s: float) -> None:
        for source, minute in minutes.items():
            old = self.marks.get(source, (minute, now_s))[0]
            self.marks[source] = (max(minute, old), now_s)

    def watermarks(self) -> dict[str, tuple[int, float]]:
        return dict(self.marks)

    def prune(self, slo: str, before_minute: int) -> int:
        buckets = self.bucket_map.get(slo, {})
        old = [m for m in buckets if m < before_minute]
        for m in old:
            del buckets[m]
        kept = {k: v for k, v in self.contributions.items() if k[0] != slo or k[1] >= before_minute}
        self.contributions = kept
        return len(old)

    def last_samples(self, series: list[str]) -> dict[str, tuple[int, float]]:
        return {s: self.series[s] for s in series if s in self.series}

    def set_last_samples(self, samples: dict[str, tuple[int, float]]) -> None:
        for name, (time, value) in samples.items():
            if name not in self.series or time > self.series[name][0]:
                self.series[name] = (time, value)

    def save_state(self, slo: str, state: dict[str, Any], status: dict[str, Any]) -> None:
        self.states[slo] = dict(state)
        self.status_map[slo] = dict(status)

    def load_state(self, slo: str) -> dict[str, Any] | None:
        return self.states.get(slo)

    def statuses(self) -> dict[str, dict[str, Any]]:
        return dict(self.status_map)
