"""The replay merge: reconcile a trace that may be the replayed tail of one a previous owner
of the partition already emitted with what the trace index says was emitted."""

from __future__ import annotations

from pipeline.domain.windows.late_cache import LateCache
from pipeline.domain.windows.model import PriorTrace, Released, link_key


class ReplayMerge(LateCache):
    """`resolve_replay`; the merged result becomes the trace's entry in the late cache."""

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
        prior_links = {link_key(r) for r in prior.linked_from}
        fresh_links = [r for r in released.linked_from if link_key(r) not in prior_links]
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
