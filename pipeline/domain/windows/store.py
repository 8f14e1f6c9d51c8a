"""Trace windows: which spans belong to which open trace, and when a trace is released.

The store of DESIGN.md §4. It holds open traces keyed by trace id, releases them by idle
timeout (sliding, by arrival), max age, max spans or memory pressure, keeps a bounded cache of
released traces so late spans and late incoming links produce a new *revision* of the whole
trace (late_cache.py), and counts, per input record, how many unreleased traces still hold its
spans so that the app acknowledges a record only when every span in it belongs to a delivered
trace (partitions.py). A possibly replayed trace is merged in replay.py.

Time is always passed in (`now`, seconds on any monotonic clock): nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.domain.assembly import group_by_trace
from pipeline.domain.span import Span
from pipeline.domain.windows.model import IncomingLink, Position, Reason, Released, diag, link_key
from pipeline.domain.windows.partitions import PartitionBook
from pipeline.domain.windows.replay import ReplayMerge
from pipeline.domain.windows.state import Window

# Distinct (service, host) resources shared by open spans; past this the table starts over
# (sharing is an optimisation: a cleared table only costs memory until it refills).
_MAX_SHARED_RESOURCES = 4_096


class TraceWindows(ReplayMerge, PartitionBook):
    """Open trace windows of one worker, for the partitions it owns (DESIGN.md §4).

    Ack bookkeeping: every input record (`Position`) carries a reference count = the number of
    unreleased windows holding something from it. `release_due` hands out `Released` traces
    with their positions; once the app has *delivered* a trace's output it calls
    `settle(positions)`, which returns the positions whose count reached zero: exactly the
    records that may now be acknowledged. Records that need no trace (an empty bundle, a
    duplicate span, a link kept for later) become ready at once: see `take_ready()`.
    """

    # ---- input --------------------------------------------------------------------------
    def add_spans(self, position: Position, spans: Iterable[Span], now: float) -> None:
        """Add the spans of one input record (a bundle), all from `position`'s partition."""
        holders = 0
        for trace_id, group in group_by_trace(spans).items():
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
            self._open_spans += len(group)
            if position not in window.positions:
                window.positions.add(position)
                holders += 1
            if len(window.spans) >= self.options.max_spans_per_trace:
                self._full.append(trace_id)
        self._hold(position, holders)

    def _compact(self, trace_id: str, group: list[Span]) -> None:
        """Share what spans of one process have in common, for memory (DESIGN.md §4 bounds RSS).

        Decoded spans each carry their own copy of the resource dict and trace id (~500 of the
        ~1,700 bytes a span costs before this). Equal resources of the same service and host
        become one shared dict (spans never mutate their resource) and the trace id one string
        per trace. Kind, status and empty links need nothing: the decoders give the shared
        constants and `NO_LINKS`.
        """
        shared_resources = self._resources
        last: dict[str, Any] | None = None  # the previous span's decoded resource ...
        kept: dict[str, Any] = {}  # ... and the dict it was given (a bundle lists each once)
        for span in group:
            span.trace_id = trace_id
            res = span.resource
            if res is not last:
                last = res
                key = (span.service_name, res.get("host.name"))
                shared = shared_resources.get(key)
                if shared is None or (shared is not res and shared != res):
                    if len(shared_resources) >= _MAX_SHARED_RESOURCES:
                        shared_resources.clear()
                    shared_resources[key] = kept = res
                else:
                    kept = shared
            span.resource = kept

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
                if link_key(ref) in {link_key(r) for r in cached.linked_from}:
                    continue  # a re-delivered link
                window = self._reopen(link.trace_id, cached, "links_update", now)
            if window.add_link(ref):
                self._open.move_to_end(link.trace_id)
                window.last_arrival = now
                if position not in window.positions:
                    window.positions.add(position)
                    holders += 1
        self._hold(position, holders)

    def _reopen_or_create(
        self, trace_id: str, position: Position, group: list[Span], now: float
    ) -> Window | None:
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
                diag(
                    "LATE_SPANS",
                    group[0].span_id,
                    f"spans arrived after revision {last} was released and its spans were evicted;"
                    " this revision holds only the late spans",
                )
            )
            return window
        window.suspect = self._maybe_replayed(position, now)
        return window

    # ---- release ------------------------------------------------------------------------
    def release_due(self, now: float) -> list[Released]:
        """Release every trace that is due at `now`, oldest first."""
        out: list[Released] = []
        opts = self.options
        for trace_id in self._full:
            window = self._open.get(trace_id)
            if window is not None and len(window.spans) >= opts.max_spans_per_trace:
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

    def _release(self, window: Window, reason: Reason, now: float) -> Released:
        del self._open[window.trace_id]
        self._open_spans -= len(window.spans)
        diagnostics = window.diagnostics
        if reason == "max_spans":
            limit = self.options.max_spans_per_trace
            diagnostics = [
                *diagnostics,
                diag("TRACE_TRUNCATED", "", f"released at max_spans_per_trace={limit}"),
            ]
        elif reason == "memory_pressure":
            message = "released early: too many open spans (max_open_spans)"
            diagnostics = [*diagnostics, diag("TRACE_TRUNCATED", "", message)]
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
