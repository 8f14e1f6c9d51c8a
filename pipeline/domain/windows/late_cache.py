"""The late cache: released traces kept for `late_grace_s`, so late spans and late incoming
links reopen the whole trace as its next revision (DESIGN.md §4)."""

from __future__ import annotations

from pipeline.domain.windows.model import Reason, Released
from pipeline.domain.windows.state import Cached, Window, WindowState


class LateCache(WindowState):
    """Remembering released traces, reopening them, and evicting them by age and size."""

    def _reopen(self, trace_id: str, cached: Cached, reason: Reason, now: float) -> Window:
        del self._cache[trace_id]
        self._cache_spans -= len(cached.spans)
        window = self._new_window(trace_id, cached.partition, now)
        window.revision = cached.revision + 1
        window.reason = reason
        window.spans.extend(cached.spans)
        self._open_spans += len(cached.spans)
        window.complete = cached.complete
        window.diagnostics = list(cached.diagnostics)
        for ref in cached.linked_from:
            window.add_link(ref)
        return window

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
        self._cache[trace_id] = Cached(
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
