"""Clock-skew correction, on cases worked by hand from Jaeger's adjuster (model/adjuster/clockskew.go)."""

from __future__ import annotations

from assembly_support import TRACE, by_id, codes, sid, span

from pipeline.domain.assembly import AssemblyOptions, assemble_trace
from pipeline.domain.assembly.clock_skew import skew_delta, span_host
from pipeline.domain.span import Span


def adjusted(record: dict, n: int) -> tuple[int, int, int]:
    s = by_id(record)[sid(n)]
    return s["adjusted_start_time_unix_nano"], s["adjusted_end_time_unix_nano"], s["clock_skew_ns"]


def test_cross_host_child_starting_before_parent_is_centred() -> None:
    """Parent [100,200] on A, child [80,120] on B: latency (100-40)/2 = 30, so it moves to [130,170]."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="B")])
    assert adjusted(rec, 2) == (130, 170, 50)
    assert adjusted(rec, 1) == (100, 200, 0)
    assert ("CLOCK_SKEW_ADJUSTED", sid(2)) in codes(rec)
    raw = by_id(rec)[sid(2)]
    assert (raw["start_time_unix_nano"], raw["end_time_unix_nano"]) == (80, 120)  # raw times kept


def test_cross_host_child_ending_after_parent_is_centred() -> None:
    """Parent [100,200], child [170,230] (60 long): latency 20, so it moves by -50 to [120,180]."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 170, 230, host="B")])
    assert adjusted(rec, 2) == (120, 180, -50)


def test_child_longer_than_parent_is_aligned_with_parent_start() -> None:
    """Child [50,300] (250 long) under parent [100,200]: too long to centre, so it starts with the parent."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 50, 300, host="B")])
    assert adjusted(rec, 2) == (100, 350, 50)


def test_longer_child_starting_after_parent_is_left_alone() -> None:
    """Jaeger only stops a longer child from starting early: [150,400] under [100,200] is not moved."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 150, 400, host="B")])
    assert adjusted(rec, 2) == (150, 400, 0)
    assert codes(rec) == []


def test_child_that_fits_is_not_moved() -> None:
    """A cross-host child inside its parent keeps its times and raises no diagnostic."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 110, 190, host="B")])
    assert adjusted(rec, 2) == (110, 190, 0)
    assert codes(rec) == []


def test_same_host_descendants_inherit_the_shift_down_to_grandchildren() -> None:
    """Child on B moves +50; its B-host child and grandchild follow; a C-host grandchild is re-centred."""
    spans = [
        span(1, None, 100, 200, host="A"),
        span(2, 1, 80, 120, host="B"),  # -> [130,170], +50
        span(3, 2, 85, 95, host="B"),  # inherits: [135,145]
        span(4, 3, 86, 90, host="B"),  # inherits: [136,140]
        span(5, 2, 0, 10, host="C"),  # vs [130,170]: latency (40-10)/2 = 15 -> [145,155], +145
    ]
    rec = assemble_trace(TRACE, spans)
    assert adjusted(rec, 3) == (135, 145, 50)
    assert adjusted(rec, 4) == (136, 140, 50)
    assert adjusted(rec, 5) == (145, 155, 145)
    flagged = [s for c, s in codes(rec) if c == "CLOCK_SKEW_ADJUSTED"]
    assert flagged == [sid(2), sid(5)]  # inherited shifts are not separately reported


def test_same_host_child_is_not_corrected_against_its_parent() -> None:
    """A child on its parent's host shares its clock: starting before the parent, it still is not moved."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="A")])
    assert adjusted(rec, 2) == (80, 120, 0)


def test_spans_without_host_count_as_different_hosts() -> None:
    """Two spans with no host are on different hosts (as in Jaeger), so the child is corrected."""
    rec = assemble_trace(TRACE, [span(1, None, 100, 200, host=None), span(2, 1, 80, 120, host=None)])
    assert adjusted(rec, 2) == (130, 170, 50)


def test_odd_latency_rounds_down_like_go_integer_division() -> None:
    """Parent [0,101], child [-10,0]: latency 91 // 2 = 45, so the shift is 0 + 45 + 10 = 55."""
    assert skew_delta(-10, 0, 0, 101) == 55


def test_adjustment_over_the_maximum_is_not_applied_and_reported() -> None:
    """With a 40 ns maximum the needed +50 is not applied but reported; children inherit no shift."""
    spans = [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="B"), span(3, 2, 85, 95, host="B")]
    rec = assemble_trace(TRACE, spans, options=AssemblyOptions(max_clock_skew_adjustment_ns=40))
    assert adjusted(rec, 2) == (80, 120, 0)
    assert adjusted(rec, 3) == (85, 95, 0)
    assert codes(rec) == [("CLOCK_SKEW_EXCEEDED", sid(2))]
    assert "50" in rec["diagnostics"][0]["message"]


def test_adjustment_equal_to_the_maximum_is_applied() -> None:
    """The maximum is inclusive: a needed shift of exactly 50 ns with a 50 ns maximum is applied."""
    spans = [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="B")]
    rec = assemble_trace(TRACE, spans, options=AssemblyOptions(max_clock_skew_adjustment_ns=50))
    assert adjusted(rec, 2) == (130, 170, 50)


def test_zero_maximum_disables_correction() -> None:
    """max 0 = disabled: no span moves and no clock-skew diagnostic is raised."""
    spans = [span(1, None, 100, 200, host="A"), span(2, 1, 80, 120, host="B"), span(3, 1, 50, 300, host="C")]
    rec = assemble_trace(TRACE, spans, options=AssemblyOptions(max_clock_skew_adjustment_ns=0))
    assert [adjusted(rec, n) for n in (2, 3)] == [(80, 120, 0), (50, 300, 0)]
    assert codes(rec) == []


def test_negative_maximum_is_rejected_with_the_field_name() -> None:
    """A negative maximum is a configuration error naming the field."""
    try:
        AssemblyOptions(max_clock_skew_adjustment_ns=-1)
    except ValueError as exc:
        assert "max_clock_skew_adjustment_ns" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_corrected_order_puts_siblings_by_adjusted_start() -> None:
    """A sibling that starts first on its skewed clock but later once corrected sorts by adjusted start."""
    spans = [
        span(1, None, 100, 200, host="A"),
        span(2, 1, 80, 120, host="B"),  # raw first, adjusted [130,170]
        span(3, 1, 110, 120, host="A"),  # same host, [110,120]
    ]
    rec = assemble_trace(TRACE, spans)
    assert [s["span_id"] for s in rec["spans"]] == [sid(1), sid(3), sid(2)]


def test_host_falls_back_from_host_name_to_host_id_to_instance_id() -> None:
    """The clock-skew host is host.name, else host.id, else service.instance.id, as a string (both ways)."""
    resources = [
        {"host.name": "a", "host.id": "b"},
        {"host.id": "b", "service.instance.id": "c"},
        {"service.instance.id": "c"},
        {"host.name": "", "host.id": "b"},
        {"host.name": 7},
        {},
    ]
    spans = [Span(TRACE, sid(i + 1), "x", 0, 1, "svc", resource=r) for i, r in enumerate(resources)]
    assert [s.host for s in spans] == [span_host(s) for s in spans] == ["a", "b", "c", "b", "7", None]
