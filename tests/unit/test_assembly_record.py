"""The assembled record: span entries, self time, links, summary, diagnostics and arguments."""

from __future__ import annotations

import orjson
import pytest
from assembly_support import TRACE, by_id, codes, sid, span

from pipeline.domain.assembly import AssemblyOptions, assemble_trace
from pipeline.domain.codec import span_to_dict

ASSEMBLY_FIELDS = {
    "depth",
    "order",
    "adjusted_start_time_unix_nano",
    "adjusted_end_time_unix_nano",
    "clock_skew_ns",
    "self_time_ns",
    "on_critical_path",
}


def test_span_entry_is_the_obspipe_span_plus_assembly_fields() -> None:
    """Each output span is exactly the codec's span dict with the seven assembly fields added."""
    spans = [span(1, None, 0, 100, links=[("1" * 32, 7)]), span(2, 1, 10, 20, error=True)]
    rec = assemble_trace(TRACE, spans)
    for entry, original in zip(rec["spans"], spans, strict=True):
        plain = {k: v for k, v in entry.items() if k not in ASSEMBLY_FIELDS}
        assert plain == span_to_dict(original)
        assert set(entry) - set(plain) == ASSEMBLY_FIELDS


def test_self_time_subtracts_the_union_of_clamped_children() -> None:
    """A[0,100] with B[10,40], C[30,60], D[90,120]: union within A is [10,60]+[90,100] = 60, so 40."""
    spans = [span(1, None, 0, 100), span(2, 1, 10, 40), span(3, 1, 30, 60), span(4, 1, 90, 120)]
    rec = assemble_trace(TRACE, spans)
    assert [by_id(rec)[sid(n)]["self_time_ns"] for n in (1, 2, 3, 4)] == [40, 30, 30, 30]


def test_self_time_with_one_child_and_with_a_child_outside() -> None:
    """One child [20,50] of [0,100] leaves 70; a child entirely after its parent leaves the parent whole."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 20, 50)])
    assert by_id(rec)[sid(1)]["self_time_ns"] == 70
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 150, 160)])
    assert by_id(rec)[sid(1)]["self_time_ns"] == 100


def test_a_child_ending_before_it_starts_covers_nothing() -> None:
    """Spans built unchecked may end before they start: B[50,30] covers nothing of A[0,100], so
    with C[60,80] A keeps 80 (the sweep must not count B's negative length)."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 50, 30), span(3, 1, 60, 80)])
    assert by_id(rec)[sid(1)]["self_time_ns"] == 80


def test_outgoing_links_are_resolved_when_the_target_is_in_the_trace() -> None:
    """A link to a span of this trace is resolved; one to another trace or a missing span is not."""
    other = "2" * 32
    spans = [span(1, None, 0, 100, links=[(TRACE, 2), (other, 9)]), span(2, 1, 10, 20, links=[(TRACE, 42)])]
    rec = assemble_trace(TRACE, spans)
    assert rec["links"] == [
        {"span_id": sid(1), "trace_id": TRACE, "linked_span_id": sid(2), "resolved": True},
        {"span_id": sid(1), "trace_id": other, "linked_span_id": sid(9), "resolved": False},
        {"span_id": sid(2), "trace_id": TRACE, "linked_span_id": sid(42), "resolved": False},
    ]


def test_summary_counts_services_errors_and_spans_the_adjusted_extent() -> None:
    """Summary: root service and name, earliest adjusted start, extent, sorted services, error count."""
    spans = [
        span(1, None, 100, 200, host="A", service="web"),
        span(2, 1, 80, 120, host="B", service="db", error=True),  # adjusted to [130,170]
        span(3, 1, 150, 260, host="A", service="web", error=True),
    ]
    rec = assemble_trace(TRACE, spans)
    assert rec["summary"] == {
        "root_service": "web",
        "root_name": "op1",
        "start_time_unix_nano": 100,
        "duration_ns": 160,
        "span_count": 3,
        "services": ["db", "web"],
        "error_count": 2,
    }


def test_queue_parent_child_is_flagged() -> None:
    """A CONSUMER span parented by a PRODUCER span (instead of linked) is flagged."""
    spans = [span(1, None, 0, 100, kind="PRODUCER"), span(2, 1, 10, 20, kind="CONSUMER")]
    assert codes(assemble_trace(TRACE, spans)) == [("QUEUE_PARENT_CHILD", sid(2))]


def test_consumer_under_a_non_producer_is_not_flagged() -> None:
    """A CONSUMER under a SERVER span (e.g. a batch handler) is fine."""
    spans = [span(1, None, 0, 100, kind="SERVER"), span(2, 1, 10, 20, kind="CONSUMER")]
    assert codes(assemble_trace(TRACE, spans)) == []


def test_sampling_inconsistency_is_flagged_on_the_child() -> None:
    """A child whose sampled flag differs from its parent's is flagged; agreeing siblings are not."""
    spans = [span(1, None, 0, 100), span(2, 1, 10, 20, sampled=False), span(3, 1, 30, 40), span(4, 2, 11, 12)]
    rec = assemble_trace(TRACE, spans, options=AssemblyOptions(max_clock_skew_adjustment_ns=0))
    assert codes(rec) == [("SAMPLING_INCONSISTENT", sid(2)), ("SAMPLING_INCONSISTENT", sid(4))]


def test_diagnostics_are_in_tree_order_with_trace_level_first() -> None:
    """Trace-level diagnostics lead, then span diagnostics by tree position, then the caller's extras."""
    spans = [span(3, None, 50, 60), span(1, None, 0, 40), span(2, 9, 10, 20)]
    extra = [{"code": "LATE_SPANS", "span_id": None, "message": "2 late spans"}]
    rec = assemble_trace(TRACE, spans, extra_diagnostics=extra)  # type: ignore[list-item]
    assert codes(rec) == [("MULTIPLE_ROOTS", None), ("ORPHAN_SPAN", sid(2)), ("LATE_SPANS", None)]


def test_revision_reason_complete_and_incoming_links_are_carried() -> None:
    """The window's revision, reason, completeness and incoming links appear as given."""
    incoming = [{"trace_id": "3" * 32, "span_id": sid(5), "linked_span_id": sid(1), "extra": "dropped"}]
    rec = assemble_trace(
        TRACE, [span(1, None, 0, 10)], revision=3, reason="links_update", complete=False, linked_from=incoming
    )
    assert (rec["schema"], rec["revision"], rec["reason"], rec["complete"]) == (
        "assembled_trace/v1",
        3,
        "links_update",
        False,
    )
    assert rec["linked_from"] == [{"trace_id": "3" * 32, "span_id": sid(5), "linked_span_id": sid(1)}]


@pytest.mark.parametrize(("kwargs", "word"), [({"reason": "bored"}, "reason"), ({"revision": 0}, "revision")])
def test_bad_arguments_are_rejected_naming_the_field(kwargs: dict, word: str) -> None:
    """An unknown reason or a revision below 1 raises ValueError naming the argument."""
    with pytest.raises(ValueError, match=word):
        assemble_trace(TRACE, [span(1, None, 0, 10)], **kwargs)


def test_record_encodes_with_orjson() -> None:
    """The record is plain data: orjson encodes it and decoding gives the same dict back."""
    rec = assemble_trace(TRACE, [span(1, None, 0, 100, links=[(TRACE, 2)]), span(2, 1, 10, 20)])
    assert orjson.loads(orjson.dumps(rec)) == rec


def test_empty_window_gives_an_empty_record() -> None:
    """No spans: a valid record with nothing in it rather than an exception."""
    rec = assemble_trace(TRACE, [])
    assert rec["spans"] == [] and rec["roots"] == [] and rec["summary"]["span_count"] == 0
