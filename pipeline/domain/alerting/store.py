"""The alert router's state store port, its change set, and the in-memory implementation.

The Redis implementation is `pipeline.adapters.redis.alert_state.RedisAlertState`. State is
kept per input partition (the owner of a partition owns its groups), silences and per-shift
statistics are shared. The outbox holds decisions that were decided but whose delivery to
Kafka is not yet confirmed; a new owner re-sends them (same ids) before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.domain.alerting.router import AlertRouter
from pipeline.domain.alerting.silences import Silence
from pipeline.domain.alerting.state import (
    entry_from_json,
    entry_to_json,
    group_from_json,
    group_to_json,
    stats_from_json,
    stats_to_json,
)
from pipeline.domain.alerting.stats import PagingStats

Json = dict[str, Any]


@dataclass(slots=True)
class OutboxRecord:
    """An output decided but not yet confirmed delivered."""

    id: str
    topic: str
    key: str
    value: bytes


@dataclass(slots=True)
class PartitionState:
    """Everything stored for one input partition (JSON forms from `state`)."""

    groups: dict[str, Json] = field(default_factory=dict)
    nflog: dict[str, Json] = field(default_factory=dict)
    activations: dict[str, Json] = field(default_factory=dict)  # fp -> {starts, noted}
    stats: dict[str, Json] = field(default_factory=dict)
    outbox: dict[str, OutboxRecord] = field(default_factory=dict)


@dataclass(slots=True)
class Changes:
    """Puts (a value) and deletes (None) since the last save of one partition."""

    groups: dict[str, Json | None] = field(default_factory=dict)
    nflog: dict[str, Json | None] = field(default_factory=dict)
    activations: dict[str, Json | None] = field(default_factory=dict)
    stats: dict[str, Json] = field(default_factory=dict)
    outbox: dict[str, OutboxRecord | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.groups or self.nflog or self.activations or self.stats or self.outbox)

    def absorb(self, newer: Changes) -> None:
        """Fold a later change set into this one (the later value wins)."""
        self.groups.update(newer.groups)
        self.nflog.update(newer.nflog)
        self.activations.update(newer.activations)
        self.stats.update(newer.stats)
        self.outbox.update(newer.outbox)


def take_changes(router: AlertRouter, stats: PagingStats | None, shifts: set[str]) -> Changes:
    """Collect (and clear) the router's dirty state plus the given shifts' statistics."""
    changes = Changes()
    for key in router.dirty:
        group = router.groups.get(key)
        changes.groups[key] = group_to_json(group) if group is not None else None
        entry = router.nflog.get(key)
        changes.nflog[key] = entry_to_json(entry) if entry is not None else None
    for fp in router.dirty_fps:
        starts, noted = router.activations.get(fp), router.noted.get(fp)
        changes.activations[fp] = (None if starts is None and noted is None
                                   else {"starts": list(starts or ()), "noted": noted})
    router.dirty.clear()
    router.dirty_fps.clear()
    if stats is not None:
        for shift_id in shifts:
            if shift_id in stats.by_shift:
                changes.stats[shift_id] = stats_to_json(stats.by_shift[shift_id])
    return changes


class AlertStateStore(Protocol):
    """Where the router's state survives restarts. Methods raise on an unreachable store."""

    def load(self, partition: int) -> PartitionState: ...

    def save(self, partition: int, changes: Changes) -> None: ...

    def shift_stats(self, shift_id: str) -> dict[int, Json]: ...

    def recent_shifts(self, limit: int) -> list[str]: ...

    def silences(self) -> list[Silence]: ...

    def put_silence(self, silence: Silence) -> None: ...


def _apply(target: dict[str, Any], updates: Mapping[str, Any]) -> None:
    for key, value in updates.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


class InMemoryAlertState:
    """An `AlertStateStore` in a dict (tests, demo, and when no Redis is configured)."""

    def __init__(self) -> None:
        self.partitions: dict[int, PartitionState] = {}
        self.stats: dict[str, dict[int, Json]] = {}
        self.shift_starts: dict[str, float] = {}
        self._silences: dict[str, Silence] = {}

    def load(self, partition: int) -> PartitionState:
        stored = self.partitions.get(partition, PartitionState())
        stats = {sid: parts[partition] for sid, parts in self.stats.items() if partition in parts}
        return PartitionState(dict(stored.groups), dict(stored.nflog), dict(stored.activations), stats,
                              dict(stored.outbox))

    def save(self, partition: int, changes: Changes) -> None:
        state = self.partitions.setdefault(partition, PartitionState())
        _apply(state.groups, changes.groups)
        _apply(state.nflog, changes.nflog)
        _apply(state.activations, changes.activations)
        _apply(state.outbox, changes.outbox)
        for shift_id, value in changes.stats.items():
            self.stats.setdefault(shift_id, {})[partition] = value
            self.shift_starts[shift_id] = float(value["shift"][2])

    def shift_stats(self, shift_id: str) -> dict[int, Json]:
        """Each partition's figures for the shift."""
        return dict(self.stats.get(shift_id, {}))

    def recent_shifts(self, limit: int) -> list[str]:
        return sorted(self.shift_starts, key=lambda s: self.shift_starts[s], reverse=True)[:limit]

    def silences(self) -> list[Silence]:
        return list(self._silences.values())

    def put_silence(self, silence: Silence) -> None:
        self._silences[silence.id] = silence


def restore(router: AlertRouter, stats: PagingStats | None, state: PartitionState) -> None:
    """Load a partition's stored state into a fresh router and statistics."""
    for key, raw in state.nflog.items():
        router.nflog[key] = entry_from_json(raw)
    for fp, per_fp in state.activations.items():
        if per_fp["starts"]:
            router.activations[fp] = list(per_fp["starts"])
        if per_fp["noted"] is not None:
            router.noted[fp] = per_fp["noted"]
    for raw in state.groups.values():
        group = group_from_json(raw, router)
        if group is not None:
            router.restore_group(group)
    if stats is not None:
        for shift_id, raw in state.stats.items():
            stats.by_shift[shift_id] = stats_from_json(raw)
