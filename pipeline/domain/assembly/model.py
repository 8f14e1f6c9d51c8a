"""The working state one trace passes through while it is assembled, and the options.

Every stage of `assembler.py` takes a `WorkingTrace` and returns it (STYLE.md practice 2).
Spans are addressed by their index in `spans`; per-span values live in parallel lists, which is
what keeps assembly at a few microseconds per span (no per-span node objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.span import Span

# Diagnostic codes (DESIGN.md §3). The windowing layer adds TRACE_TRUNCATED and LATE_SPANS.
ORPHAN_SPAN = "ORPHAN_SPAN"
MULTIPLE_ROOTS = "MULTIPLE_ROOTS"
PARENT_CYCLE = "PARENT_CYCLE"
DUPLICATE_SPAN_ID = "DUPLICATE_SPAN_ID"
CLOCK_SKEW_ADJUSTED = "CLOCK_SKEW_ADJUSTED"
CLOCK_SKEW_EXCEEDED = "CLOCK_SKEW_EXCEEDED"
QUEUE_PARENT_CHILD = "QUEUE_PARENT_CHILD"
SAMPLING_INCONSISTENT = "SAMPLING_INCONSISTENT"

NO_PARENT = -1
TRACE_LEVEL = -1  # the span index of a diagnostic about the whole trace


@dataclass(frozen=True, slots=True)
class AssemblyOptions:
    """How to assemble a trace.

    Attributes:
        max_clock_skew_adjustment_ns: largest clock-skew shift applied to a span; a larger one
            is not applied and is reported (CLOCK_SKEW_EXCEEDED). 0 disables correction.
    """

    max_clock_skew_adjustment_ns: int = 600_000_000_000  # 10 min, as DESIGN.md §4

    def __post_init__(self) -> None:
        if self.max_clock_skew_adjustment_ns < 0:
            got = self.max_clock_skew_adjustment_ns
            raise ValueError(f"max_clock_skew_adjustment_ns must be >= 0 (0 disables), got {got}")


@dataclass(slots=True)
class WorkingTrace:
    """One trace between stages. Lists are indexed by span index unless said otherwise.

    Fields with `init=False` are set by the stage that computes them (`walk_tree` etc.), which
    also keeps the constructor, called once per trace, cheap.
    """

    trace_id: str
    options: AssemblyOptions
    spans: list[Span]
    span_ids: list[str]
    dup_rank: list[int]  # 0 for the first (canonical) copy of a span id, 1.. for conflicting copies
    index: dict[str, int]  # span id -> index of its canonical copy
    parent: list[int] = field(init=False)
    children: list[list[int] | None] = field(init=False)  # None for a leaf (most spans: no list each)
    roots: list[int] = field(init=False)  # after `walk_tree`: in tree order
    orphans: list[int] = field(init=False)
    async_children: list[int] = field(init=False)  # CONSUMER spans under a PRODUCER
    start: list[int] = field(init=False)  # raw start, then (after `walk_tree`) adjusted start
    end: list[int] = field(init=False)  # adjusted end
    skew: list[int] = field(init=False)
    order: list[int] = field(init=False)  # span indexes in tree order
    depth: list[int] = field(init=False)
    covered: list[int] = field(init=False)  # time covered by a span's children (clamped union)
    children_overflow: bool = True  # some child sticks out of its parent (adjusted times)
    on_critical_path: list[bool] = field(init=False)
    critical_path: list[dict[str, Any]] = field(init=False)  # {"span_id", start, end} sections
    # (span index or TRACE_LEVEL, code, message); sorted into tree order by the record stage
    diagnostics: list[tuple[int, str, str]] = field(default_factory=list)
