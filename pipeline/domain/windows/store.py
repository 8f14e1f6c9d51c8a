"""Trace windows: which spans belong to which open trace, and when a trace is released.

The store of DESIGN.md §4. It holds open traces keyed by trace id, releases them by idle
timeout (sliding, by arrival), max age, max spans or memory pressure, keeps a bounded cache of
released traces so late spans and late incoming links produce a new *revision* of the whole
trace, and counts, per input record, how many unreleased traces still hold its spans so that
the app acknowledges a record only when every span in it belongs to a delivered trace.

Time is always passed in (`now`, seconds on any monotonic clock): nothing here reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.domain.span import SPAN_KINDS, STATUS_CODES, Span, SpanKind, SpanLink, StatusCode

Reason = Literal["idle", "max_age", "max_spans", "memory_pressure", "shutdown", "late_update", "links_update"]

# (topic, partition, offset) of one input record.
Position = tuple[str, int, int]

LinkRef = dict[str, str]  # {"trace_id", "span_id", "linked_span_id"}: one incoming link

# Distinct (service, host) resources shared by open spans; past this the table starts over
# (sharing is an optimisation: a cleared table only costs memory until it refills).
_MAX_SHARED_RESOURCES = 4_096
_KINDS: dict[str, SpanKind] = {k: k for k in SPAN_KINDS}
_STATUSES: dict[str, StatusCode] = {c: c for c in STATUS_CODES}
# One empty links list shared by every held span without links (nothing mutates a held span's
# links): a list per span was ~45 % of the objects the garbage collector had to traverse.
_NO_LINKS: list[SpanLink] = []


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


class _Window:
    __slots__ = (
        "complete", "diagnostics", "first_arrival", "last_arrival", "link_keys", "linked_from",
        "partition", "positions", "reason", "revision", "span_count", "spans", "suspect", "trace_id",
    )  # fmt: skip

    def __init__(self, trace_id: str, partition: int, now: float) -> None:
        self.trace_id = trace_id
        self.partition = partition
        self.first_arrival = now
        self.last_arrival = now
        self.spans: list[Span] = []
        self.span_count = 0
        self.positions: set[Position] = set()
        self.revision = 1
        self.reason: Reason | None = None
        self.linked_from: list[LinkRef] = []
        self.link_keys: set[tuple[str, str, str]] = set()
        self.complete = True
        self.diagnostics: list[dict[str, str]] = []
        self.suspect = False

    def add_link(self, ref: LinkRef) -> bool:
        key = (ref["trace_id"], ref["span_id"], ref["linked_span_id"])
        if key in self.link_keys:
            return False
        self.link_keys.add(key)
        self.linked_from.append(ref)
        return True


@dataclass(slots=True)
class _Cached:
    """A released trace kept for late revisions."""

    revision: int
    spans: list[Span]
    linked_from: list[LinkRef]
    complete: bool
    diagnostics: list[dict[str, str]]
    partition: int
    released_at: float


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


def _diag(code: str, span_id: str, message: str) -> dict[str, str]:
    return {"code": code, "span_id": span_id, "message": message}


def _link_key(ref: LinkRef) -> tuple[str, str, str]:
    return (ref["trace_id"], ref["span_id"], ref["linked_span_id"])


class TraceWindows:
    """Open trace windows of one worker, for the partitions it owns (DESIGN.md §4).

    Ack bookkeeping: every input record (`Position`) carries a reference count = the number of
    unreleased windows holding something from it. `release_due` hands out `Released` traces
    with their positions; once the app has *delivered* a trace's output it calls
    `settle(positions)`, which returns the positions whose count reached zero: exactly the
    records that may now be acknowledged. Records that need no trace (an empty bundle, a
    duplicate span, a link kept for later) become ready at once: see `take_ready()`.
    """

    def __init__(self, options: WindowOptions | None = None) -> None:
        self.options = options or WindowOptions()
        self.stats = WindowStats()
        # Open windows ordered by last arrival: the idle ones are at the front.
        self._open: OrderedDict[str, _Window] = OrderedDict()
        # (first_arrival, trace_id, window) in arrival order, for max_age and memory pressure;
        # entries whose window is no longer open are skipped lazily.
        self._by_age: deque[tuple[float, str, _Window]] = deque()
        self._full: list[str] = []
        self._open_spans = 0
        self._refs: dict[Position, int] = {}
        self._ready: list[Position] = []
        # Released traces by release time (oldest first), for late spans and links.
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
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

    # ---- partitions ---------------------------------------------------------------------
    def assign_partition(self, partition: int, now: float, end_offsets: dict[str, int] | None = None) -> None:
        """Note that this worker now owns `partition` (its replayed records come first).

        Args:
            end_offsets: topic -> the partition's end offset when it was assigned, if known;
                records at or above it cannot have been seen by a previous owner.
        """
        self._assigned_at[partition] = now
        if end_offsets:
            self._end_offsets[partition] = dict(end_offsets)
        else:
            self._end_offsets.pop(partition, None)

    def drop_partition(self, partition: int) -> int:
        """Discard everything of a revoked partition without emitting it; returns spans dropped.

        The new owner replays the partition from its committed offset, so nothing is lost; the
        late cache of the partition goes too, since the new owner may emit newer revisions.
        """
        self._assigned_at.pop(partition, None)
        self._end_offsets.pop(partition, None)
        dropped = 0
        for trace_id in [t for t, w in self._open.items() if w.partition == partition]:
            window = self._open.pop(trace_id)
            dropped += window.span_count
            self._open_spans -= window.span_count
        for trace_id in [t for t, c in self._cache.items() if c.partition == partition]:
            self._cache_spans -= len(self._cache.pop(trace_id).spans)
        for trace_id in [t for t, (_, p) in self._released_ids.items() if p == partition]:
            del self._released_ids[trace_id]
        for trace_id in [t for t, (p, _) in self._pending_links.items() if p == partition]:
            del self._pending_links[trace_id]
        for pos in [p for p in self._refs if p[1] == partition]:
            del self._refs[pos]
        self._ready = [p for p in self._ready if p[1] != partition]
        self._by_age = deque(e for e in self._by_age if e[2].partition != partition)
        self.stats.spans_discarded_on_revoke += dropped
        return dropped

    # ---- input --------------------------------------------------------------------------
    def add_spans(self, position: Position, spans: Iterable[Span], now: float) -> None:
        """Add the spans of one input record (a bundle), all from `position`'s partition."""
        by_trace: dict[str, list[Span]] = {}
        for span in spans:
            group = by_trace.get(span.trace_id)
            if group is None:
                by_trace[span.trace_id] = [span]
            else:
                group.append(span)
        holders = 0
        for trace_id, group in by_trace.items():
            window = self._open.get(trace_id)
            if window is None:
                window = self._reopen_or_create(trace_id, position, group, now)
                if window is None:
                    continue
            else:
                self._open.move_to_end(trace_id)
                window.last_arrival = now
            self._compact(window.trace_id, group)
            window.spans.extend(group)
            window.span_count += len(group)
            self._open_spans += len(group)
            if position not in window.positions:
                window.positions.add(position)
                holders += 1
            if window.span_count >= self.options.max_spans_per_trace:
                self._full.append(trace_id)
        self._hold(position, holders)

    def _compact(self, trace_id: str, group: list[Span]) -> None:
        """Share what spans of one process have in common, for memory (DESIGN.md §4 bounds RSS).

        Decoded spans each carry their own copy of the resource dict, trace id and kind/status
        strings (~500 of the ~1,700 bytes a span costs). Equal resources of the same service and
        host become one shared dict (spans never mutate their resource), the trace id one
        string per trace, kind/status the module's constants, and an empty links list one
        shared list (fewer objects for the garbage collector to traverse).
        """
        shared_resources = self._resources
        for span in group:
            span.trace_id = trace_id
            res = span.resource
            key = (span.service_name, res.get("host.name"))
            shared = shared_resources.get(key)
            if shared is None or (shared is not res and shared != res):
                if len(shared_resources) >= _MAX_SHARED_RESOURCES:
                    shared_resources.clear()
                shared_resources[key] = res
            else:
                span.resource = shared
            span.kind = _KINDS.get(span.kind, span.kind)
            span.status_code = _STATUSES.get(span.status_code, span.status_code)
            if not span.links:
                span.links = _NO_LINKS

    def add_links(self, position: Position, links: Sequence[IncomingLink], now: float) -> None:
        """Add incoming links (records of obspipe.links) for traces of `position`'s partition."""
        partition = position[1]
        holders = 0
        for link in links:
            ref = link.ref()
            window = self._open.get(link.trace_id)
            if window is None:
                cached = self._cache.get(link.trace_id)
                if cached is None:
                    # The target's spans have not arrived (or left the cache): keep the link
                    # so the trace's next window carries it.
                    self._park_link(link.trace_id, partition, ref)
                    continue
                if _link_key(ref) in {_link_key(r) for r in cached.linked_from}:
                    continue  # a re-delivered link
                window = self._reopen(link.trace_id, cached, "links_update", now)
            if window.add_link(ref):
                self._open.move_to_end(link.trace_id)
                window.last_arrival = now
                if position not in window.positions:
                    window.positions.add(position)
                    holders += 1
        self._hold(position, holders)

    def _hold(self, position: Position, holders: int) -> None:
        if holders:
            self._refs[position] = self._refs.get(position, 0) + holders
        elif position not in self._refs:
            self._ready.append(position)

    def _park_link(self, trace_id: str, partition: int, ref: LinkRef) -> None:
        entry = self._pending_links.get(trace_id)
        if entry is None:
            self._pending_links[trace_id] = (partition, [ref])
            # Bounded like the late cache; an evicted link is counted, never silent.
            while len(self._pending_links) > max(1, self.options.late_cache_max_spans):
                _, (_, lost) = self._pending_links.popitem(last=False)
                self.stats.links_unmatched += len(lost)
        elif _link_key(ref) not in {_link_key(r) for r in entry[1]}:
            entry[1].append(ref)

    def _new_window(self, trace_id: str, partition: int, now: float) -> _Window:
        window = _Window(trace_id, partition, now)
        self._open[trace_id] = window
        self._by_age.append((now, trace_id, window))
        parked = self._pending_links.pop(trace_id, None)
        if parked is not None:
            for ref in parked[1]:
                window.add_link(ref)
        return window

    def _reopen(self, trace_id: str, cached: _Cached, reason: Reason, now: float) -> _Window:
        del self._cache[trace_id]
        self._cache_spans -= len(cached.spans)
        window = self._new_window(trace_id, cached.partition, now)
        window.revision = cached.revision + 1
        window.reason = reason
        window.spans.extend(cached.spans)
        window.span_count = len(cached.spans)
        self._open_spans += window.span_count
        window.complete = cached.complete
        window.diagnostics = list(cached.diagnostics)
        for ref in cached.linked_from:
            window.add_link(ref)
        return window

    def _reopen_or_create(
        self, trace_id: str, position: Position, group: list[Span], now: float
    ) -> _Window | None:
        partition = position[1]
        cached = self._cache.get(trace_id)
        if cached is not None and cached.released_at + self.options.late_grace_s < now:
            self._evict_cached(trace_id)
            cached = None
        if cached is not None:
            cached_ids = {s.span_id for s in cached.spans}
            fresh = [s for s in group if s.span_id not in cached_ids]
            if not fresh:
                self.stats.duplicate_spans_ignored += len(group)
                return None
            group[:] = fresh
            if len(cached.spans) + len(fresh) <= self.options.max_spans_per_trace:
                self.stats.late_merged += len(fresh)
                return self._reopen(trace_id, cached, "late_update", now)
        released = self._released_ids.get(trace_id)
        last = None if released is None else released[0]
        window = self._new_window(trace_id, partition, now)
        if last is not None:
            # Released, but its spans are past the grace or the cache bound: a fragment.
            self.stats.late_fragments += len(group)
            window.revision = last + 1
            window.reason = "late_update"
            window.complete = False
            window.diagnostics.append(
                _diag(
                    "LATE_SPANS",
                    group[0].span_id,
                    f"spans arrived after revision {last} was released and its spans were evicted;"
                    " this revision holds only the late spans",
                )
            )
            return window
        window.suspect = self._maybe_replayed(position, now)
        return window

    def _maybe_replayed(self, position: Position, now: float) -> bool:
        topic, partition, offset = position
        assigned = self._assigned_at.get(partition)
        if assigned is None:
            return False
        since = now - assigned
        ends = self._end_offsets.get(partition)
        if ends is not None and topic in ends:
            return offset < ends[topic] or since < self.options.replay_tail_s
        return since < self.options.replay_suspect_s

    # ---- release ------------------------------------------------------------------------
    def release_due(self, now: float) -> list[Released]:
        """Release every trace that is due at `now`, oldest first."""
        out: list[Released] = []
        opts = self.options
        for trace_id in self._full:
            window = self._open.get(trace_id)
            if window is not None and window.span_count >= opts.max_spans_per_trace:
                out.append(self._release(window, "max_spans", now))
        self._full.clear()
        idle_before = now - opts.idle_timeout_s
        while self._open:
            window = next(iter(self._open.values()))
            if window.last_arrival > idle_before:
                break
            out.append(self._release(window, "idle", now))
        age_before = now - opts.max_trace_age_s
        while self._by_age:
            first, trace_id, window = self._by_age[0]
            if self._open.get(trace_id) is not window:
                self._by_age.popleft()
                continue
            if first <= age_before:
                out.append(self._release(window, "max_age", now))
            elif self._open_spans > opts.max_open_spans:
                out.append(self._release(window, "memory_pressure", now))
            else:
                break
        self._expire_cache(now)
        return out

    def release_all(self, now: float, reason: Reason = "shutdown") -> list[Released]:
        """Release every open trace (e.g. at shutdown), oldest first."""
        windows = sorted(self._open.values(), key=lambda w: w.first_arrival)
        return [self._release(w, reason, now) for w in windows]

    def _release(self, window: _Window, reason: Reason, now: float) -> Released:
        del self._open[window.trace_id]
        self._open_spans -= window.span_count
        diagnostics = window.diagnostics
        if reason == "max_spans":
            limit = self.options.max_spans_per_trace
            diagnostics = [
                *diagnostics,
                _diag("TRACE_TRUNCATED", "", f"released at max_spans_per_trace={limit}"),
            ]
        elif reason == "memory_pressure":
            message = "released early: too many open spans (max_open_spans)"
            diagnostics = [*diagnostics, _diag("TRACE_TRUNCATED", "", message)]
        final_reason: Reason = window.reason if window.reason is not None and reason == "idle" else reason
        released = Released(
            trace_id=window.trace_id,
            spans=window.spans,
            reason=final_reason,
            revision=window.revision,
            positions=tuple(window.positions),
            partition=window.partition,
            linked_from=window.linked_from,
            complete=window.complete,
            diagnostics=diagnostics,
            replay_suspect=window.suspect,
        )
        self.stats.released[final_reason] = self.stats.released.get(final_reason, 0) + 1
        if window.spans:
            self._remember(released, now)
        return released

    def _remember(self, released: Released, now: float) -> None:
        trace_id = released.trace_id
        self._released_ids[trace_id] = (released.revision, released.partition)
        self._released_ids.move_to_end(trace_id)
        while len(self._released_ids) > self.options.released_ids_max:
            self._released_ids.popitem(last=False)
        old = self._cache.pop(trace_id, None)
        if old is not None:
            self._cache_spans -= len(old.spans)
        if self.options.late_grace_s <= 0 or len(released.spans) > self.options.late_cache_max_spans:
            return
        self._cache[trace_id] = _Cached(
            released.revision, released.spans, released.linked_from, released.complete,
            [d for d in released.diagnostics if d["code"] != "TRACE_TRUNCATED"],
            released.partition, now,
        )  # fmt: skip
        self._cache_spans += len(released.spans)
        while self._cache_spans > self.options.late_cache_max_spans:
            self._evict_cached(next(iter(self._cache)))

    def _evict_cached(self, trace_id: str) -> None:
        self._cache_spans -= len(self._cache.pop(trace_id).spans)

    def _expire_cache(self, now: float) -> None:
        horizon = now - self.options.late_grace_s
        while self._cache:
            trace_id, cached = next(iter(self._cache.items()))
            if cached.released_at >= horizon:
                break
            self._evict_cached(trace_id)

    # ---- replay -------------------------------------------------------------------------
    def resolve_replay(self, released: Released, prior: PriorTrace | None, now: float) -> Released | None:
        """Reconcile a replay-suspect release with what the trace index says was emitted.

        Returns the release unchanged when nothing was emitted before; None when everything in
        it was already emitted (the app settles its positions without emitting: the duplicate
        is suppressed); otherwise the next revision of the merged trace.
        """
        if prior is None:
            return released
        known = {s.span_id for s in prior.spans}
        fresh = [s for s in released.spans if s.span_id not in known]
        prior_links = {_link_key(r) for r in prior.linked_from}
        fresh_links = [r for r in released.linked_from if _link_key(r) not in prior_links]
        if not fresh and not fresh_links:
            self.stats.replays_suppressed += 1
            merged_prior = Released(
                released.trace_id, prior.spans, released.reason, prior.revision, (),
                released.partition, list(prior.linked_from), prior.complete,
            )  # fmt: skip
            self._remember(merged_prior, now)
            return None
        self.stats.replays_merged += 1
        merged = Released(
            trace_id=released.trace_id,
            spans=[*prior.spans, *fresh],
            reason="late_update" if fresh else "links_update",
            revision=max(prior.revision, released.revision - 1) + 1,
            positions=released.positions,
            partition=released.partition,
            linked_from=[*prior.linked_from, *fresh_links],
            complete=prior.complete and released.complete,
            diagnostics=released.diagnostics,
        )
        self._remember(merged, now)
        return merged

    # ---- acknowledgement ----------------------------------------------------------------
    def settle(self, positions: Iterable[Position]) -> list[Position]:
        """A trace holding `positions` was delivered: return the records now fully done."""
        done: list[Position] = []
        refs = self._refs
        for pos in positions:
            count = refs.get(pos)
            if count is None:
                continue  # its partition was revoked meanwhile
            if count <= 1:
                del refs[pos]
                done.append(pos)
            else:
                refs[pos] = count - 1
        return done

    def take_ready(self) -> list[Position]:
        """Records that needed no trace output (duplicates, parked links): ack them now."""
        ready, self._ready = self._ready, []
        return ready

    def committable(self, topic: str, partition: int, next_offset: int) -> int:
        """The offset a plain consumer may commit for a partition: its first record not done.

        Args:
            next_offset: the offset after the last record added from this partition.
        """
        pending = [p[2] for p in self._refs if p[0] == topic and p[1] == partition]
        return min(pending, default=next_offset)
