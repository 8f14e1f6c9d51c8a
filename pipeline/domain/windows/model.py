"""Shared types of the trace window store: options, inputs, releases and counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.domain.span import Span

Reason = Literal["idle", "max_age", "max_spans", "memory_pressure", "shutdown", "late_update", "links_update"]

# (topic, partition, offset) of one input record.
Position = tuple[str, int, int]

LinkRef = dict[str, str]  # {"trace_id", "span_id", "linked_span_id"}: one incoming link


@dataclass(frozen=True, slots=True)
class WindowOptions:
    """Bounds of the window store; defaults equal those in pipeline/settings.py."""

    idle_timeout_s: float = 5.0
    max_trace_age_s: float = 30.0
    max_spans_per_trace: int = 10_000
    max_open_spans: int = 1_000_000
    late_grace_s: float = 300.0
    late_cache_max_spans: int = 200_000
    # Ids (and last revision) of released traces remembered after their spans left the late
    # cache, so a very late span becomes a LATE_SPANS fragment with a fresh revision instead of
    # a second "revision 1". ~150 bytes each.
    released_ids_max: int = 500_000
    # A new window opened this soon after its partition was assigned may be the replayed tail
    # of a trace a previous owner already emitted (its records were not yet committed). The
    # previous owner held a trace for at most max_trace_age + idle, plus a commit interval.
    # When the partition's end offsets at assignment are known, only records below them are
    # replays, plus those arriving within replay_tail_s (a watermark may be a batch short).
    replay_suspect_s: float = 45.0
    replay_tail_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("idle_timeout_s", "max_trace_age_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_spans_per_trace", "max_open_spans"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @classmethod
    def from_settings(cls, settings: Any) -> WindowOptions:
        """Build from an object with the same-named settings fields (pipeline.settings.Settings)."""
        return cls(
            idle_timeout_s=settings.idle_timeout_s,
            max_trace_age_s=settings.max_trace_age_s,
            max_spans_per_trace=settings.max_spans_per_trace,
            max_open_spans=settings.max_open_spans,
            late_grace_s=settings.late_grace_s,
            late_cache_max_spans=settings.late_cache_max_spans,
            replay_suspect_s=settings.max_trace_age_s + settings.idle_timeout_s + 10.0,
        )


@dataclass(frozen=True, slots=True)
class IncomingLink:
    """A record of obspipe.links: span `from_span_id` of `from_trace_id` links to our span."""

    trace_id: str
    span_id: str
    from_trace_id: str
    from_span_id: str

    def ref(self) -> LinkRef:
        return {"trace_id": self.from_trace_id, "span_id": self.from_span_id, "linked_span_id": self.span_id}


@dataclass(slots=True)
class Released:
    """One trace leaving the store: assemble it, emit it, then `settle(positions)`."""

    trace_id: str
    spans: list[Span]
    reason: Reason
    revision: int
    positions: tuple[Position, ...]
    partition: int
    linked_from: list[LinkRef] = field(default_factory=list)
    complete: bool = True
    diagnostics: list[dict[str, str]] = field(default_factory=list)
    # True when this may be the replayed tail of a trace a previous owner already emitted:
    # the app asks the trace index for the prior revision and calls `resolve_replay`.
    replay_suspect: bool = False


@dataclass(frozen=True, slots=True)
class PriorTrace:
    """What was emitted before for a trace (from the trace index): used to merge a replay."""

    revision: int
    spans: list[Span]
    linked_from: list[LinkRef]
    complete: bool = True


@dataclass(slots=True)
class WindowStats:
    """Counters the app exports as metrics."""

    released: dict[str, int] = field(default_factory=dict)
    late_merged: int = 0
    late_fragments: int = 0
    duplicate_spans_ignored: int = 0
    replays_suppressed: int = 0
    replays_merged: int = 0
    links_unmatched: int = 0
    spans_discarded_on_revoke: int = 0


def diag(code: str, span_id: str, message: str) -> dict[str, str]:
    """One diagnostic entry of a released trace."""
    return {"code": code, "span_id": span_id, "message": message}


def link_key(ref: LinkRef) -> tuple[str, str, str]:
    """The identity of an incoming link, for de-duplication."""
    return (ref["trace_id"], ref["span_id"], ref["linked_span_id"])
