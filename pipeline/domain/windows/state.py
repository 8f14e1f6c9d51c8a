"""State of the trace window store: open windows, cached releases and the shared bookkeeping.

Every part of `TraceWindows` (release rules, late cache, partition/ack bookkeeping, replay
merge) works on the attributes declared here, so the store stays one object with plain
attribute access on its hot path.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from pipeline.domain.span import Span
from pipeline.domain.windows.model import LinkRef, Position, Reason, WindowOptions, WindowStats, link_key


class Window:
    """One open trace: its spans, the input records holding them, and its incoming links."""

    __slots__ = (
        "complete", "diagnostics", "first_arrival", "last_arrival", "link_keys", "linked_from",
        "partition", "positions", "reason", "revision", "spans", "suspect", "trace_id",
    )  # fmt: skip

    def __init__(self, trace_id: str, partition: int, now: float) -> None:
        self.trace_id = trace_id
        self.partition = partition
        self.first_arrival = now
        self.last_arrival = now
        self.spans: list[Span] = []
        self.positions: set[Position] = set()
        self.revision = 1
        self.reason: Reason | None = None
        self.linked_from: list[LinkRef] = []
        self.link_keys: set[tuple[str, str, str]] = set()
        self.complete = True
        self.diagnostics: list[dict[str, str]] = []
        self.suspect = False

    def add_link(self, ref: LinkRef) -> bool:
        key = link_key(ref)
        if key in self.link_keys:
            return False
        self.link_keys.add(key)
        self.linked_from.append(ref)
        return True


@dataclass(slots=True)
class Cached:
    """A released trace kept for late revisions."""

    revision: int
    spans: list[Span]
    linked_from: list[LinkRef]
    complete: bool
    diagnostics: list[dict[str, str]]
    partition: int
    released_at: float


class WindowState:
    """The attributes of the store, its introspection, and opening a new window."""

    def __init__(self, options: WindowOptions | None = None) -> None:
        self.options = options or WindowOptions()
        self.stats = WindowStats()
        # Open windows ordered by last arrival: the idle ones are at the front.
        self._open: OrderedDict[str, Window] = OrderedDict()
        # (first_arrival, trace_id, window) in arrival order, for max_age and memory pressure;
        # entries whose window is no longer open are skipped lazily.
        self._by_age: deque[tuple[float, str, Window]] = deque()
        self._full: list[str] = []
        self._open_spans = 0
        self._refs: dict[Position, int] = {}
        self._ready: list[Position] = []
        # Released traces by release time (oldest first), for late spans and links.
        self._cache: OrderedDict[str, Cached] = OrderedDict()
        self._cache_spans = 0
        # trace_id -> (last revision, partition) of released traces
        self._released_ids: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._assigned_at: dict[int, float] = {}
        self._end_offsets: dict[int, dict[str, int]] = {}  # partition -> topic -> end at assignment
        self._pending_links: OrderedDict[str, tuple[int, list[LinkRef]]] = OrderedDict()
        self._resources: dict[tuple[str, Any], dict[str, Any]] = {}

    # ---- introspection ------------------------------------------------------------------
    @property
    def open_traces(self) -> int:
        return len(self._open)

    @property
    def open_spans(self) -> int:
        return self._open_spans

    @property
    def cached_spans(self) -> int:
        return self._cache_spans

    @property
    def pending_records(self) -> int:
        return len(self._refs)

    def last_revision(self, trace_id: str) -> int | None:
        """The last revision this store released for a trace, if it still remembers it."""
        window = self._open.get(trace_id)
        if window is not None and window.revision > 1:
            return window.revision - 1
        known = self._released_ids.get(trace_id)
        return None if known is None else known[0]

    # ---- windows ------------------------------------------------------------------------
    def _new_window(self, trace_id: str, partition: int, now: float) -> Window:
        window = Window(trace_id, partition, now)
        self._open[trace_id] = window
        self._by_age.append((now, trace_id, window))
        parked = self._pending_links.pop(trace_id, None)
        if parked is not None:
            for ref in parked[1]:
                window.add_link(ref)
        return window

    def _park_link(self, trace_id: str, partition: int, ref: LinkRef) -> None:
        entry = self._pending_links.get(trace_id)
        if entry is None:
            self._pending_links[trace_id] = (partition, [ref])
            # Bounded like the late cache; an evicted link is counted, never silent.
            while len(self._pending_links) > max(1, self.options.late_cache_max_spans):
                _, (_, lost) = self._pending_links.popitem(last=False)
                self.stats.links_unmatched += len(lost)
        elif link_key(ref) not in {link_key(r) for r in entry[1]}:
            entry[1].append(ref)
