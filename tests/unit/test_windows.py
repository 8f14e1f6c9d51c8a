"""Trace windows: release rules, late revisions, links, revocation, replay and ack bookkeeping."""

from __future__ import annotations

import pytest

from pipeline.domain.span import Span
from pipeline.domain.windows import (
    IncomingLink,
    PriorTrace,
    Released,
    TraceWindows,
    WindowOptions,
)

T1 = "1" * 32
T2 = "2" * 32
T3 = "3" * 32
SPANS = "spans"
LINKS = "links"


def span(trace_id: str, n: int) -> Span:
    return Span(trace_id, f"{n:016x}", f"op{n}", 1_000 + n, 2_000 + n, "svc")


def store(**kw: float) -> TraceWindows:
    opts = {"idle_timeout_s": 5.0, "max_trace_age_s": 30.0, "late_grace_s": 60.0}
    opts.update(kw)
    return TraceWindows(WindowOptions(**opts))  # type: ignore[arg-type]


def ids(released: Released) -> list[str]:
    return sorted(s.span_id for s in released.spans)


def test_idle_timeout_slides_with_each_arrival() -> None:
    """A trace is released idle_timeout after its LAST span arrived, not its first."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=0.0)
    w.add_spans((SPANS, 0, 1), [span(T1, 2)], now=4.0)
    assert w.release_due(8.9) == []
    (rel,) = w.release_due(9.0)
    assert (rel.trace_id, rel.reason, rel.revision, rel.complete) == (T1, "idle", 1, True)
    assert ids(rel) == [f"{1:016x}", f"{2:016x}"]
    assert w.open_traces == 0 and w.open_spans == 0


def test_max_age_releases_a_trace_that_never_goes_idle() -> None:
    """A trace that keeps receiving spans is released once older than max_trace_age."""
    w = store(idle_timeout_s=5.0, max_trace_age_s=10.0)
    for t in range(11):
        w.add_spans((SPANS, 0, t), [span(T1, t)], now=float(t))
        released = w.release_due(float(t))
        if t < 10:
            assert released == []
    assert [(r.reason, len(r.spans)) for r in released] == [("max_age", 11)]


def test_max_spans_releases_at_the_limit_and_flags_truncation() -> None:
    """Reaching max_spans_per_trace releases at once with a TRACE_TRUNCATED diagnostic."""
    w = store(max_spans_per_trace=3)
    w.add_spans((SPANS, 0, 0), [span(T1, 1), span(T1, 2), span(T1, 3)], now=0.0)
    (rel,) = w.release_due(0.1)
    assert rel.reason == "max_spans"
    assert [d["code"] for d in rel.diagnostics] == ["TRACE_TRUNCATED"]


def test_memory_pressure_releases_oldest_traces_first() -> None:
    """Over max_open_spans, the traces that opened first are released until under the bound."""
    w = store(max_open_spans=4)
    w.add_spans((SPANS, 0, 0), [span(T1, 1), span(T1, 2)], now=0.0)
    w.add_spans((SPANS, 0, 1), [span(T2, 1), span(T2, 2)], now=1.0)
    w.add_spans((SPANS, 0, 2), [span(T3, 1), span(T3, 2)], now=2.0)
    released = w.release_due(2.1)
    assert [(r.trace_id, r.reason) for r in released] == [(T1, "memory_pressure")]
    assert w.open_spans == 4


def test_record_is_acked_only_when_every_trace_in_it_is_settled() -> None:
    """A bundle holding spans of two traces becomes ackable only after both are delivered."""
    w = store()
    w.add_spans((SPANS, 0, 7), [span(T1, 1), span(T2, 1)], now=0.0)
    w.add_spans((SPANS, 0, 8), [span(T2, 2)], now=3.0)
    (r1,) = w.release_due(5.0)
    assert r1.trace_id == T1 and r1.positions == ((SPANS, 0, 7),)
    assert w.settle(r1.positions) == []
    (r2,) = w.release_due(8.0)
    assert sorted(w.settle(r2.positions)) == [(SPANS, 0, 7), (SPANS, 0, 8)]
    assert w.pending_records == 0


def test_late_span_within_grace_yields_next_revision_of_whole_trace() -> None:
    """A span for a released trace within late_grace reopens it as revision 2 (late_update)."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1), span(T1, 2)], now=0.0)
    (r1,) = w.release_due(5.0)
    w.settle(r1.positions)
    w.add_spans((SPANS, 0, 1), [span(T1, 3)], now=20.0)
    assert w.release_due(24.0) == []
    (r2,) = w.release_due(25.0)
    assert (r2.revision, r2.reason, r2.complete) == (2, "late_update", True)
    assert len(r2.spans) == 3
    assert r2.positions == ((SPANS, 0, 1),)
    assert w.settle(r2.positions) == [(SPANS, 0, 1)]


def test_redelivered_span_of_released_trace_is_ignored_and_acked() -> None:
    """A re-delivered span already in the released trace makes no revision; its record is ready."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=0.0)
    w.settle(w.release_due(5.0)[0].positions)
    w.add_spans((SPANS, 0, 1), [span(T1, 1)], now=6.0)
    assert w.release_due(100.0) == []
    assert w.take_ready() == [(SPANS, 0, 1)]
    assert w.stats.duplicate_spans_ignored == 1


def test_late_span_after_grace_is_a_flagged_fragment() -> None:
    """Past late_grace, a late span comes out alone as revision 2, incomplete, with LATE_SPANS."""
    w = store(late_grace_s=10.0)
    w.add_spans((SPANS, 0, 0), [span(T1, 1), span(T1, 2)], now=0.0)
    w.release_due(5.0)
    w.add_spans((SPANS, 0, 1), [span(T1, 3)], now=100.0)
    (frag,) = w.release_due(105.0)
    assert (frag.revision, frag.complete, ids(frag)) == (2, False, [f"{3:016x}"])
    assert [d["code"] for d in frag.diagnostics] == ["LATE_SPANS"]


def test_late_cache_bound_evicts_oldest_released_traces() -> None:
    """With room for 2 cached spans, the older released trace is evicted and its late span is a fragment."""
    w = store(late_cache_max_spans=2)
    w.add_spans((SPANS, 0, 0), [span(T1, 1), span(T1, 2)], now=0.0)
    w.add_spans((SPANS, 0, 1), [span(T2, 1), span(T2, 2)], now=1.0)
    w.release_due(10.0)
    assert w.cached_spans == 2
    w.add_spans((SPANS, 0, 2), [span(T1, 3)], now=11.0)
    w.add_spans((SPANS, 0, 3), [span(T2, 3)], now=11.0)
    by_trace = {r.trace_id: r for r in w.release_due(16.0)}
    assert (by_trace[T1].complete, len(by_trace[T1].spans)) == (False, 1)
    assert (by_trace[T2].complete, len(by_trace[T2].spans)) == (True, 3)


def test_incoming_link_joins_open_window() -> None:
    """A link for an open trace is listed in its linked_from, once even if re-delivered."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=0.0)
    link = IncomingLink(T1, f"{1:016x}", T2, "b" * 16)
    w.add_links((LINKS, 0, 0), [link], now=1.0)
    w.add_links((LINKS, 0, 1), [link], now=1.5)
    assert w.take_ready() == [(LINKS, 0, 1)]
    (rel,) = w.release_due(6.5)
    assert rel.linked_from == [{"trace_id": T2, "span_id": "b" * 16, "linked_span_id": f"{1:016x}"}]
    assert sorted(w.settle(rel.positions)) == [(LINKS, 0, 0), (SPANS, 0, 0)]


def test_link_for_released_trace_yields_links_update_revision() -> None:
    """A link arriving after its target trace was released produces revision 2 (links_update)."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=0.0)
    w.release_due(5.0)
    w.add_links((LINKS, 0, 0), [IncomingLink(T1, f"{1:016x}", T2, "b" * 16)], now=6.0)
    (rel,) = w.release_due(11.0)
    assert (rel.revision, rel.reason, len(rel.spans), len(rel.linked_from)) == (2, "links_update", 1, 1)


def test_link_before_spans_is_parked_until_the_trace_opens() -> None:
    """A link whose target has no spans yet is kept and attached to the trace's window."""
    w = store()
    w.add_links((LINKS, 0, 0), [IncomingLink(T1, f"{1:016x}", T2, "b" * 16)], now=0.0)
    assert w.take_ready() == [(LINKS, 0, 0)]
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=1.0)
    (rel,) = w.release_due(6.0)
    assert (rel.revision, len(rel.linked_from)) == (1, 1)


def test_revoked_partition_is_discarded_not_emitted() -> None:
    """drop_partition forgets the partition's windows and pending records; others are untouched."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=0.0)
    w.add_spans((SPANS, 1, 0), [span(T2, 1), span(T2, 2)], now=0.0)
    assert w.drop_partition(1) == 2
    released = w.release_due(10.0)
    assert [r.trace_id for r in released] == [T1]
    assert w.settle([(SPANS, 1, 0)]) == []
    assert w.stats.spans_discarded_on_revoke == 2


def test_new_window_soon_after_assignment_is_replay_suspect() -> None:
    """Windows opened within replay_suspect_s of assignment are flagged; later ones are not."""
    w = store(replay_suspect_s=20.0)
    w.assign_partition(0, now=0.0)
    w.add_spans((SPANS, 0, 0), [span(T1, 1)], now=1.0)
    w.add_spans((SPANS, 0, 1), [span(T2, 1)], now=25.0)
    flags = {r.trace_id: r.replay_suspect for r in w.release_due(100.0)}
    assert flags == {T1: True, T2: False}


def test_replayed_tail_of_emitted_trace_is_suppressed() -> None:
    """If the index already holds every replayed span, nothing is emitted and the record is settled."""
    w = store()
    w.assign_partition(0, now=0.0)
    w.add_spans((SPANS, 0, 5), [span(T1, 3)], now=0.0)
    (rel,) = w.release_due(5.0)
    prior = PriorTrace(1, [span(T1, n) for n in (1, 2, 3)], [])
    assert w.resolve_replay(rel, prior, now=5.0) is None
    assert w.settle(rel.positions) == [(SPANS, 0, 5)]
    assert w.last_revision(T1) == 1


def test_replay_with_new_spans_merges_into_next_revision() -> None:
    """Replayed spans the index lacks produce prior revision + 1 carrying the union of spans."""
    w = store()
    w.assign_partition(0, now=0.0)
    w.add_spans((SPANS, 0, 5), [span(T1, 2), span(T1, 9)], now=0.0)
    (rel,) = w.release_due(5.0)
    prior = PriorTrace(3, [span(T1, 1), span(T1, 2)], [])
    merged = w.resolve_replay(rel, prior, now=5.0)
    assert merged is not None
    assert (merged.revision, merged.reason) == (4, "late_update")
    assert ids(merged) == [f"{n:016x}" for n in (1, 2, 9)]
    assert w.resolve_replay(rel, None, now=5.0) is rel


def test_shutdown_releases_everything_open() -> None:
    """release_all hands out every open trace with the given reason, oldest first."""
    w = store()
    w.add_spans((SPANS, 0, 0), [span(T2, 1)], now=0.0)
    w.add_spans((SPANS, 0, 1), [span(T1, 1)], now=1.0)
    assert [(r.trace_id, r.reason) for r in w.release_all(2.0)] == [(T2, "shutdown"), (T1, "shutdown")]


def test_committable_offset_is_first_unsettled_record() -> None:
    """A plain consumer may commit up to the lowest offset still held by an open trace."""
    w = store()
    w.add_spans((SPANS, 0, 10), [span(T1, 1)], now=0.0)
    w.add_spans((SPANS, 0, 11), [span(T2, 1)], now=3.0)
    assert w.committable(SPANS, 0, next_offset=12) == 10
    w.settle(w.release_due(5.0)[0].positions)
    assert w.committable(SPANS, 0, next_offset=12) == 11


def test_invalid_options_name_the_field() -> None:
    """A non-positive idle timeout is rejected with the field's name."""
    with pytest.raises(ValueError, match="idle_timeout_s"):
        WindowOptions(idle_timeout_s=0)


def test_with_end_offsets_only_older_records_are_replay_suspects() -> None:
    """Given the end offset at assignment, older records are suspects; newer ones only in the tail window."""
    w = store(replay_suspect_s=60.0, replay_tail_s=2.0)
    w.assign_partition(0, now=0.0, end_offsets={SPANS: 10})
    w.add_spans((SPANS, 0, 9), [span(T1, 1)], now=3.0)  # below the end: replayed
    w.add_spans((SPANS, 0, 10), [span(T2, 1)], now=1.0)  # new, but within the tail window
    w.add_spans((SPANS, 0, 11), [span(T3, 1)], now=3.0)  # new
    flags = {r.trace_id: r.replay_suspect for r in w.release_due(100.0)}
    assert flags == {T1: True, T2: True, T3: False}


def test_open_spans_of_one_process_share_their_resource() -> None:
    """Equal resources of spans from the same service and host are stored once; different ones are kept."""
    w = store()
    res = {"service.name": "svc", "host.name": "h1"}
    a, b, c = span(T1, 1), span(T1, 2), span(T2, 1)
    a.resource, b.resource = dict(res), dict(res)
    c.resource = {"service.name": "svc", "host.name": "h1", "extra": 1}
    w.add_spans((SPANS, 0, 0), [a, b, c], now=0.0)
    assert a.resource is b.resource and a.resource == res
    assert c.resource == {"service.name": "svc", "host.name": "h1", "extra": 1}


def test_revoked_partition_forgets_released_traces_too() -> None:
    """After a revocation, a span of a trace released before is new: the next owner decides its revision."""
    w = store(late_grace_s=10.0)
    w.add_spans((SPANS, 1, 0), [span(T1, 1)], now=0.0)
    w.release_due(5.0)
    assert w.last_revision(T1) == 1
    w.drop_partition(1)
    assert w.last_revision(T1) is None
    w.add_spans((SPANS, 1, 1), [span(T1, 2)], now=6.0)
    (rel,) = w.release_due(11.0)
    assert (rel.revision, rel.complete) == (1, True)
