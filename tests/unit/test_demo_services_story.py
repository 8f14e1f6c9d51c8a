"""The demo services, in memory: correct patterns assemble cleanly, each pitfall shows its diagnostic."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline.adapters.otel.otlp import to_obspipe_spans
from pipeline.demo_services import EXPECTED_DIAGNOSTIC, Pitfalls, run_story
from pipeline.domain.propagation_rules import assemble_with_rules

PROPAGATION_CODES = {
    "LOST_CONTEXT_SUSPECTED",
    "CONTEXT_LEAK_SUSPECTED",
    "QUEUE_PARENT_CHILD",
    "SAMPLING_INCONSISTENT",
    "ORPHAN_SPAN",
    "MULTIPLE_ROOTS",
}


def _story(**kwargs):
    sink = InMemorySpanExporter()
    result = run_story(sink, **kwargs)
    spans = to_obspipe_spans(sink.get_finished_spans())
    return result, spans, assemble_with_rules(spans)


def _codes(traces) -> set[str]:
    return {d["code"] for t in traces for d in t["diagnostics"]}


def test_correct_story_has_no_propagation_diagnostics_and_links_the_batch() -> None:
    """Two checkouts: two checkout traces and one fulfillment trace linking to both order events."""
    result, spans, traces = _story()
    assert result.processed == 2 and result.flushed
    assert not (_codes(traces) & PROPAGATION_CODES)
    # Per checkout: server, 2 reservations, 2 payment attempts, 2 payments servers, 2 charges, 1 send.
    assert len(traces) == 3
    checkout_traces = [t for t in traces if t["summary"]["root_service"] == "checkout"]
    assert [t["summary"]["span_count"] for t in checkout_traces] == [10, 10]
    (batch_trace,) = [t for t in traces if t["summary"]["root_service"] == "fulfillment"]
    producers = {(s.trace_id, s.span_id) for s in spans if s.kind == "PRODUCER"}
    assert {(lk["trace_id"], lk["linked_span_id"]) for lk in batch_trace["links"]} == producers
    assert {lk["trace_id"] for lk in batch_trace["links"]} == {t["trace_id"] for t in checkout_traces}


def test_payments_clock_skew_is_corrected_in_the_correct_story() -> None:
    """payments-1 runs 150 ms behind; the assembler shifts its spans into their CLIENT parents."""
    _, _, traces = _story()
    adjusted = [
        s
        for t in traces
        for s in t["spans"]
        if s["resource"]["host.name"] == "payments-1" and s["clock_skew_ns"]
    ]
    assert adjusted and all(s["clock_skew_ns"] > 100_000_000 for s in adjusted)
    assert "CLOCK_SKEW_ADJUSTED" in _codes(traces)


@pytest.mark.parametrize("pitfall", Pitfalls.names())
def test_each_pitfall_produces_its_diagnostic(pitfall: str) -> None:
    """Switching on one pitfall yields that pitfall's diagnostic in the assembled traces."""
    _, _, traces = _story(pitfalls=Pitfalls.only(pitfall))
    assert EXPECTED_DIAGNOSTIC[pitfall] in _codes(traces)


def test_leak_names_the_request_it_leaked_into() -> None:
    """With the shared variable, one user's spans hang under the other user's checkout span."""
    _, _, traces = _story(pitfalls=Pitfalls(shared_request_variable=True))
    (trace,) = [t for t in traces if any(d["code"] == "CONTEXT_LEAK_SUSPECTED" for d in t["diagnostics"])]
    users = {s["attributes"].get("enduser.id") for s in trace["spans"]}
    assert users >= {"alice", "bob"}


def test_unsampled_decision_travels_to_payments_and_across_kafka() -> None:
    """When checkout does not sample, payments (RPC) and fulfillment (linked batch) record nothing either."""
    result, spans, _ = _story(sampled=False)
    assert result.processed == 2
    assert spans == []


def test_a_batch_of_100_links_to_100_producer_traces() -> None:
    """100 orders give one fulfillment span with 100 links, each to the PRODUCER span of its own trace."""
    result, spans, traces = _story(orders=100, items_per_order=1)
    assert result.processed == 100
    (batch,) = [s for s in spans if s.service_name == "fulfillment" and s.kind == "CONSUMER"]
    producers = {(s.trace_id, s.span_id) for s in spans if s.kind == "PRODUCER"}
    assert len(producers) == 100 and len({t for t, _ in producers}) == 100
    assert {(lk.trace_id, lk.span_id) for lk in batch.links} == producers
    assert batch.attributes["messaging.batch.message_count"] == 100
    assert not (_codes(traces) & PROPAGATION_CODES)


def test_unknown_pitfall_is_refused() -> None:
    """Pitfalls.only names the valid switches when given an unknown one."""
    with pytest.raises(ValueError, match="retry_drops_headers"):
        Pitfalls.only("typo")
