"""Tree building: roots, orphans, order and depth, duplicates, parent cycles."""

from __future__ import annotations

from assembly_support import TRACE, by_id, codes, sid, span
from msgspec.structs import replace

from pipeline.domain.assembly import assemble_all, assemble_trace


def ids(record: dict) -> list[str]:
    return [s["span_id"] for s in record["spans"]]


def test_tree_order_is_dfs_preorder_with_siblings_by_start_then_id() -> None:
    """Children come right after their parent, siblings by start and, on equal starts, by span id."""
    spans = [
        span(1, None, 0, 100),
        span(5, 1, 10, 20),
        span(3, 1, 10, 30),  # same start as 5: id 3 sorts first
        span(2, 1, 5, 50),
        span(4, 2, 6, 7),
    ]
    rec = assemble_trace(TRACE, spans)
    assert ids(rec) == [sid(1), sid(2), sid(4), sid(3), sid(5)]
    assert [s["depth"] for s in rec["spans"]] == [0, 1, 2, 1, 1]
    assert [s["order"] for s in rec["spans"]] == [0, 1, 2, 3, 4]
    assert rec["roots"] == [sid(1)] and rec["orphans"] == []


def test_orphan_is_a_root_of_its_own_subtree_and_flagged() -> None:
    """A span whose parent never arrived heads its subtree, is listed in orphans and roots, and flagged."""
    spans = [span(1, None, 0, 100), span(2, 1, 10, 20), span(3, 99, 30, 40), span(4, 3, 31, 32)]
    rec = assemble_trace(TRACE, spans)
    assert ids(rec) == [sid(1), sid(2), sid(3), sid(4)]
    assert rec["roots"] == [sid(1), sid(3)]
    assert rec["orphans"] == [sid(3)]
    assert by_id(rec)[sid(4)]["depth"] == 1
    assert codes(rec) == [("ORPHAN_SPAN", sid(3))]
    assert sid(99) in rec["diagnostics"][0]["message"]
    assert rec["summary"]["root_name"] == "op1"  # the real root, not the orphan


def test_multiple_parentless_spans_are_flagged_once_for_the_trace() -> None:
    """Two spans without a parent: both are roots (ordered by start) and MULTIPLE_ROOTS has no span id."""
    rec = assemble_trace(TRACE, [span(2, None, 50, 60), span(1, None, 0, 10)])
    assert rec["roots"] == [sid(1), sid(2)]
    assert codes(rec) == [("MULTIPLE_ROOTS", None)]


def test_exact_redelivery_collapses_into_one_span() -> None:
    """The same span delivered twice appears once, with no diagnostic."""
    root, child = span(1, None, 0, 100), span(2, 1, 10, 20)
    rec = assemble_trace(TRACE, [root, child, span(2, 1, 10, 20), span(1, None, 0, 100)])
    assert ids(rec) == [sid(1), sid(2)]
    assert rec["summary"]["span_count"] == 2
    assert codes(rec) == []


def test_conflicting_copies_are_kept_and_flagged() -> None:
    """Two different spans with one id both appear, flagged DUPLICATE_SPAN_ID once; children attach once."""
    a = span(2, 1, 10, 20)
    b = replace(a, name="other", end_time_unix_nano=30)
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), b, a, span(3, 2, 11, 12)])
    assert ids(rec) == [sid(1), sid(2), sid(3), sid(2)]  # child 3 under the canonical copy (ends first)
    assert [s["name"] for s in rec["spans"]] == ["op1", "op2", "op3", "other"]
    assert codes(rec) == [("DUPLICATE_SPAN_ID", sid(2))]
    assert rec["summary"]["span_count"] == 4


def test_conflicting_copies_do_not_depend_on_arrival_order() -> None:
    """Whichever copy arrives first, the record is the same."""
    a = span(2, 1, 10, 20)
    b = replace(a, attributes={"x": 1})
    root = span(1, None, 0, 100)
    assert assemble_trace(TRACE, [root, a, b]) == assemble_trace(TRACE, [b, root, a])


def test_two_span_cycle_is_cut_at_its_earliest_span() -> None:
    """A->B->A with a separate root: the cycle is cut above its earliest span, which becomes a root."""
    spans = [span(1, None, 0, 100), span(2, 3, 20, 30), span(3, 2, 10, 40), span(4, 2, 21, 22)]
    rec = assemble_trace(TRACE, spans)
    assert ids(rec) == [sid(1), sid(3), sid(2), sid(4)]  # 3 starts first: the cut is above it
    assert rec["roots"] == [sid(1), sid(3)]
    assert [by_id(rec)[sid(n)]["depth"] for n in (3, 2, 4)] == [0, 1, 2]
    assert ("PARENT_CYCLE", sid(3)) in codes(rec)
    assert "MULTIPLE_ROOTS" not in [c for c, _ in codes(rec)]


def test_self_parent_is_a_cycle() -> None:
    """A span that names itself as parent is cut into a root and flagged; nothing is lost."""
    rec = assemble_trace(TRACE, [span(1, 1, 0, 10), span(2, 1, 1, 2)])
    assert ids(rec) == [sid(1), sid(2)]
    assert codes(rec) == [("PARENT_CYCLE", sid(1))]


def test_trace_of_only_a_cycle_still_lists_every_span() -> None:
    """Three spans in a ring: every span appears exactly once under the cut."""
    rec = assemble_trace(TRACE, [span(1, 3, 5, 50), span(2, 1, 6, 40), span(3, 2, 7, 30)])
    assert ids(rec) == [sid(1), sid(2), sid(3)]
    assert rec["roots"] == [sid(1)]
    assert rec["summary"]["root_name"] == "op1"


def test_assemble_all_groups_by_trace_in_first_seen_order() -> None:
    """Spans of two traces interleaved give two records, in the order their traces first appear."""
    other = "1" * 32
    spans = [replace(span(1, None, 0, 10), trace_id=other), span(1, None, 0, 10), span(2, 1, 1, 2)]
    spans.append(replace(span(2, 1, 1, 2), trace_id=other))
    records = assemble_all(spans)
    assert [r["trace_id"] for r in records] == [other, TRACE]
    assert [len(r["spans"]) for r in records] == [2, 2]
