"""The in-memory trace index: the behaviour every TraceIndex implementation shares."""

from __future__ import annotations

from typing import Any

from pipeline.domain.trace_index import InMemoryTraceIndex, TraceIndex
from pipeline.testing.assembled import sample_trace

A = "a" * 32
B = "b" * 32
C = "c" * 32


def trace(trace_id: str, start: int, **kw: Any) -> dict[str, Any]:
    return sample_trace(trace_id, start, **kw)


def test_in_memory_index_satisfies_the_protocol() -> None:
    """InMemoryTraceIndex is a TraceIndex (runtime-checkable protocol)."""
    assert isinstance(InMemoryTraceIndex(), TraceIndex)


def test_get_returns_highest_revision_even_if_written_out_of_order() -> None:
    """A lower revision written after a higher one does not replace it and is counted as stale."""
    index = InMemoryTraceIndex()
    index.put(trace(A, 1_000, revision=2))
    index.put(trace(A, 1_000, revision=1))
    stored = index.get(A)
    assert stored is not None and stored["revision"] == 2
    assert (index.stats.written, index.stats.stale) == (1, 1)
    assert index.get(B) is None
    assert set(index.get_many([A, B])) == {A}


def test_recent_lists_newest_first_per_service_and_errors_separately() -> None:
    """Recent traces are per service, newest start first; only erroring traces are in errors."""
    index = InMemoryTraceIndex()
    index.put(trace(A, 1_000))
    index.put(trace(B, 3_000, error=True))
    index.put(trace(C, 2_000))
    assert [s.trace_id for s in index.recent("db")] == [B, C, A]
    assert [s.trace_id for s in index.recent("web", errors_only=True)] == [B]
    assert index.services() == ["db", "web"]


def test_recent_is_trimmed_to_the_newest() -> None:
    """With recent_max=2, the oldest trace of a service falls out of its listing."""
    index = InMemoryTraceIndex(recent_max=2)
    for trace_id, start in ((A, 1_000), (B, 3_000), (C, 2_000)):
        index.put(trace(trace_id, start))
    assert [s.trace_id for s in index.recent("web")] == [B, C]


def test_reverse_link_index_lists_the_linking_spans() -> None:
    """A trace whose span links to another trace is listed under that target's incoming links."""
    index = InMemoryTraceIndex()
    index.put(trace(A, 1_000, link_to=B))
    assert index.links_to(B) == [{"trace_id": A, "span_id": "0" * 15 + "1", "linked_span_id": "1" * 16}]
    assert index.links_to(A) == []


def test_put_after_shutdown_is_rejected_and_counted() -> None:
    """After shutdown, puts are not stored and are counted as rejected."""
    index = InMemoryTraceIndex()
    index.shutdown()
    index.put(trace(A, 1_000))
    assert index.get(A) is None and index.stats.rejected == 1
