"""Properties of assembly over random trees (hypothesis), and the record against its JSON Schema."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from assembly_support import TRACE, sid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from pipeline.domain.assembly import AssemblyOptions, assemble_trace
from pipeline.domain.span import Span, SpanLink
from pipeline.domain.synthetic import SyntheticTraces
from pipeline.testing.schemas import validator

KINDS = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
HOSTS = ("a", "b", "c", None)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def trees(draw: st.DrawFn, *, wild_parents: bool = False) -> list[Span]:
    """A random trace: each span's parent is an earlier span, none, a missing span, or (wild) any span."""
    n = draw(st.integers(1, 25))
    spans: list[Span] = []
    for i in range(n):
        if wild_parents:
            parent = draw(st.one_of(st.none(), st.integers(1, n + 2)))  # may be missing, later, self
        else:
            parent = draw(st.one_of(st.none(), st.integers(1, i))) if i else None
        start = draw(st.integers(0, 1_000))
        end = start + draw(st.integers(0, 1_000))
        host = draw(st.sampled_from(HOSTS))
        spans.append(
            Span(
                trace_id=TRACE,
                span_id=sid(i + 1),
                name=f"op{i}",
                start_time_unix_nano=start,
                end_time_unix_nano=end,
                service_name=f"svc-{host}",
                parent_span_id=None if parent is None else sid(parent),
                kind=draw(st.sampled_from(KINDS)),
                status_code=draw(st.sampled_from(("UNSET", "OK", "ERROR"))),
                resource={"service.name": f"svc-{host}", **({"host.name": host} if host else {})},
                links=[SpanLink(TRACE, sid(draw(st.integers(1, n + 1))))] if draw(st.booleans()) else [],
                flags=draw(st.sampled_from((0, 1))),
            )
        )
    return spans


@SETTINGS
@given(trees(wild_parents=True))
def test_every_span_appears_exactly_once(spans: list[Span]) -> None:
    """Whatever the parent links (missing, cyclic, self), each span appears once, with orders 0..n-1."""
    rec = assemble_trace(TRACE, spans)
    assert Counter(s["span_id"] for s in rec["spans"]) == Counter(s.span_id for s in spans)
    assert [s["order"] for s in rec["spans"]] == list(range(len(spans)))
    # pre-order: a span's parent (when it is the tree parent) precedes it with depth one less
    depth_at = {s["span_id"]: s["depth"] for s in rec["spans"]}
    for s in rec["spans"]:
        if s["depth"]:
            assert depth_at[s["parent_span_id"]] == s["depth"] - 1


@SETTINGS
@given(trees(wild_parents=True), st.permutations(range(25)), st.booleans())
def test_assembly_does_not_depend_on_input_order(spans: list[Span], perm: list[int], dup: bool) -> None:
    """Shuffling the input (and re-delivering a span) yields the identical record."""
    shuffled = [spans[i] for i in perm if i < len(spans)]
    if dup:
        shuffled.append(spans[0])
    assert assemble_trace(TRACE, shuffled) == assemble_trace(TRACE, spans)


@SETTINGS
@given(trees(), st.sampled_from((1, 50, 300, 600_000_000_000)))
def test_no_cross_host_child_starts_before_its_parent_after_correction(
    spans: list[Span], max_ns: int
) -> None:
    """A child on another (or unknown) host starts no earlier than its parent unless its shift was refused."""
    rec = assemble_trace(TRACE, spans, options=AssemblyOptions(max_clock_skew_adjustment_ns=max_ns))
    refused = {d["span_id"] for d in rec["diagnostics"] if d["code"] == "CLOCK_SKEW_EXCEEDED"}
    entries = {s["span_id"]: s for s in rec["spans"]}
    for s in rec["spans"]:
        parent = entries.get(s["parent_span_id"]) if s["depth"] else None
        if parent is None or s["span_id"] in refused:
            continue
        host, p_host = s["resource"].get("host.name"), parent["resource"].get("host.name")
        if host is None or host != p_host:
            assert s["adjusted_start_time_unix_nano"] >= parent["adjusted_start_time_unix_nano"]
        assert s["adjusted_end_time_unix_nano"] - s["adjusted_start_time_unix_nano"] == (
            s["end_time_unix_nano"] - s["start_time_unix_nano"]
        )


@SETTINGS
@given(trees(wild_parents=True))
def test_critical_path_sections_are_disjoint_ordered_and_within_their_root(spans: list[Span]) -> None:
    """Per root, sections are non-empty, time-ordered, disjoint and inside the root's adjusted interval."""
    rec = assemble_trace(TRACE, spans)
    root_of: dict[str, str] = {}
    current = ""
    for s in rec["spans"]:
        if s["depth"] == 0:
            current = s["span_id"]
        root_of[s["span_id"]] = current
    entries = {s["span_id"]: s for s in rec["spans"]}
    sections: dict[str, list[tuple[int, int]]] = {}
    for p in rec["critical_path"]:
        sections.setdefault(root_of[p["span_id"]], []).append(
            (p["start_time_unix_nano"], p["end_time_unix_nano"])
        )
    assert list(sections) == [r for r in rec["roots"] if r in sections]  # root blocks in root order
    for root, parts in sections.items():
        r = entries[root]
        for a, b in parts:
            assert r["adjusted_start_time_unix_nano"] <= a < b <= r["adjusted_end_time_unix_nano"]
        for (_, b1), (a2, _) in pairwise(parts):
            assert b1 <= a2
    on_path = {p["span_id"] for p in rec["critical_path"]}
    assert on_path == {s["span_id"] for s in rec["spans"] if s["on_critical_path"]}


@SETTINGS
@given(trees(wild_parents=True))
def test_random_records_validate_against_the_schema(spans: list[Span]) -> None:
    """Records from random spans (cycles, orphans, duplicates) match assembled_trace.v1.json."""
    spans = [*spans, replace(spans[0], name="conflicting copy")]
    validator("assembled_trace.v1").validate(assemble_trace(TRACE, spans))


def test_synthetic_records_validate_against_the_schema() -> None:
    """Realistic synthetic traces (skew, links, many services) assemble into schema-valid records."""
    source = SyntheticTraces(seed=7, link_ratio=0.5)
    check = validator("assembled_trace.v1")
    for n in (1, 10, 200):
        for _ in range(5):
            spans = source.trace(n)
            rec = assemble_trace(spans[0].trace_id, spans)
            check.validate(rec)
            assert rec["summary"]["span_count"] == n


def test_schema_rejects_a_record_missing_a_field() -> None:
    """The schema is not vacuous: dropping `critical_path` or adding an unknown key fails validation."""
    rec = assemble_trace(TRACE, [Span(TRACE, sid(1), "x", 0, 1, "svc")])
    check = validator("assembled_trace.v1")
    broken = {k: v for k, v in rec.items() if k != "critical_path"}
    assert not check.is_valid(broken)
    assert not check.is_valid({**rec, "surprise": 1})
    assert check.is_valid(rec)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(1, 6),  # span id: few values, so ids repeat
            st.one_of(st.none(), st.just(""), st.integers(1, 7)),  # parent: none, empty, any (self, missing)
            st.integers(-(2**63), 2**64),
            st.integers(-(2**63), 2**64),  # end may precede start
            st.sampled_from((*HOSTS, 7)),  # a non-string host value too
            st.sampled_from(KINDS),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_odd_spans_never_break_assembly(rows: list[tuple[int, object, int, int, object, str]]) -> None:
    """Spans the codec would reject (end before start, extreme times, empty parent) still assemble."""
    spans = [
        Span(
            trace_id=TRACE,
            span_id=sid(n),
            name="x",
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            service_name="svc",
            parent_span_id=parent if parent in (None, "") else sid(parent),  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            resource={"host.name": host},
        )
        for n, parent, start, end, host, kind in rows
    ]
    rec = assemble_trace(TRACE, spans)
    distinct = {
        (s.span_id, s.start_time_unix_nano, s.end_time_unix_nano, s.parent_span_id, s.kind, str(s.resource))
        for s in spans
    }
    assert len(rec["spans"]) == len(distinct)
    assert all(s["self_time_ns"] >= 0 for s in rec["spans"])
