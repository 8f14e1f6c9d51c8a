"""Critical path, on cases worked by hand from jaeger-ui's algorithm (TracePage/CriticalPath)."""

from __future__ import annotations

from assembly_support import TRACE, by_id, codes, sid, span

from pipeline.domain.assembly import assemble_trace


def path(record: dict) -> list[tuple[int, int, int]]:
    """(span number, start, end) of each critical-path section."""
    return [
        (int(p["span_id"], 16), p["start_time_unix_nano"], p["end_time_unix_nano"])
        for p in record["critical_path"]
    ]


def test_two_sequential_children() -> None:
    """A[0,100] with B[10,40] and C[50,80]: A, B, A, C, A alternate (jaeger-ui's own doc example)."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 10, 40), span(3, 1, 50, 80)])
    assert path(rec) == [(1, 0, 10), (2, 10, 40), (1, 40, 50), (3, 50, 80), (1, 80, 100)]
    assert all(s["on_critical_path"] for s in rec["spans"])


def test_overlapping_child_that_ends_after_the_lfc_starts_is_off_the_path() -> None:
    """A[0,100], B[10,70], C[50,90]: C is the LFC; B ends after C starts, so the path goes back to A."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 10, 70), span(3, 1, 50, 90)])
    assert path(rec) == [(1, 0, 50), (3, 50, 90), (1, 90, 100)]
    assert not by_id(rec)[sid(2)]["on_critical_path"]


def test_nested_grandchild() -> None:
    """A[0,100] > B[20,80] > D[30,60]: the path descends into B then D and climbs back out."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 20, 80), span(4, 2, 30, 60)])
    assert path(rec) == [(1, 0, 20), (2, 20, 30), (4, 30, 60), (2, 60, 80), (1, 80, 100)]


def test_consumer_child_of_producer_is_asynchronous() -> None:
    """R[0,100] > P PRODUCER[10,20] > Q CONSUMER[30,150] > Q2: Q and its subtree are off the path."""
    spans = [
        span(1, None, 0, 100, kind="SERVER"),
        span(2, 1, 10, 20, kind="PRODUCER"),
        span(3, 2, 30, 150, kind="CONSUMER"),
        span(4, 3, 40, 50),
    ]
    rec = assemble_trace(TRACE, spans)
    assert path(rec) == [(1, 0, 10), (2, 10, 20), (1, 20, 100)]
    assert [by_id(rec)[sid(n)]["on_critical_path"] for n in (1, 2, 3, 4)] == [True, True, False, False]
    assert ("QUEUE_PARENT_CHILD", sid(3)) in codes(rec)


def test_child_overflowing_its_parent_is_clamped() -> None:
    """A[0,100] with same-host B[80,130]: B counts as [80,100]; the empty A section after it is dropped."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 80, 130)])
    assert path(rec) == [(1, 0, 80), (2, 80, 100)]


def test_child_starting_before_its_parent_is_clamped_to_the_parent_start() -> None:
    """A[100,200] with same-host B[50,150] (not moved: same clock): B counts as [100,150]."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200), span(2, 1, 50, 150)])
    assert path(rec) == [(2, 100, 150), (1, 150, 200)]


def test_child_wholly_outside_its_parent_is_dropped_with_its_subtree() -> None:
    """A[0,100] with same-host B[150,200] and B's child: neither is on the path."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 150, 200), span(3, 2, 160, 170)])
    assert path(rec) == [(1, 0, 100)]


def test_equal_ends_go_to_the_earlier_sibling() -> None:
    """B[10,50] and C[20,50] end together: the first sibling (B) is the LFC; C ends after B starts."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 10, 50), span(3, 1, 20, 50)])
    assert path(rec) == [(1, 0, 10), (2, 10, 50), (1, 50, 100)]


def test_each_root_has_its_own_path_in_root_order() -> None:
    """Two roots: each contributes its own time-ordered sections, the earlier root first."""
    rec = assemble_trace(TRACE, [span(2, None, 5, 20), span(1, None, 0, 10), span(3, 2, 6, 8)])
    assert path(rec) == [(1, 0, 10), (2, 5, 6), (3, 6, 8), (2, 8, 20)]


def test_path_uses_adjusted_times() -> None:
    """A cross-host child at [80,120] under [100,200] is corrected to [130,170] before the path is found."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="B")])
    assert path(rec) == [(1, 100, 130), (2, 130, 170), (1, 170, 200)]
