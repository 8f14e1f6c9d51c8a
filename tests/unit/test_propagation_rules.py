"""Cross-trace rules: LOST_CONTEXT_SUSPECTED and CONTEXT_LEAK_SUSPECTED on hand-built spans."""

from __future__ import annotations

import pytest

from pipeline.domain.propagation_rules import (
    CONTEXT_LEAK_SUSPECTED,
    LOST_CONTEXT_SUSPECTED,
    PropagationWatch,
    RuleOptions,
    diagnostics_by_trace,
    find_context_leaks,
    find_lost_context,
    propagation_findings,
)
from pipeline.domain.span import Span, SpanLink

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


def span(
    trace: str,
    sid: str,
    *,
    parent: str | None = None,
    kind: str = "INTERNAL",
    start: int = 0,
    end: int = 10,
    service: str = "checkout",
    host: str = "h1",
    links=(),
    **attrs,
) -> Span:
    return Span(
        trace_id=trace * 32,
        span_id=sid * 16,
        name=f"{kind.lower()}-{sid}",
        start_time_unix_nano=T0 + start * MS,
        end_time_unix_nano=T0 + end * MS,
        service_name=service,
        parent_span_id=parent * 16 if parent else None,
        kind=kind,  # type: ignore[arg-type]
        resource={"service.name": service, "host.name": host},
        attributes={k.replace("_", "."): v for k, v in attrs.items()},
        links=list(links),
    )


def _retry_story(second_attempt_has_context: bool) -> list[Span]:
    """checkout (trace a) calls payments twice; the first attempt fails, the second succeeds."""
    spans = [
        span("a", "1", kind="SERVER", start=0, end=100),
        span("a", "2", parent="1", kind="CLIENT", start=10, end=20, peer_service="payments"),
        span("a", "3", parent="2", kind="SERVER", start=12, end=18, service="payments", host="h2"),
        span("a", "4", parent="1", kind="CLIENT", start=40, end=60, peer_service="payments"),
    ]
    if second_attempt_has_context:
        spans.append(
            span("a", "5", parent="4", kind="SERVER", start=42, end=58, service="payments", host="h2")
        )
    else:
        spans.append(span("b", "5", kind="SERVER", start=42, end=58, service="payments", host="h2"))
    return spans


def test_server_root_called_by_an_unanswered_client_is_lost_context() -> None:
    """The retried call without headers makes payments' SERVER span a root, flagged with its caller."""
    (finding,) = find_lost_context(_retry_story(second_attempt_has_context=False))
    assert finding.code == LOST_CONTEXT_SUSPECTED
    assert (finding.trace_id, finding.span_id) == ("b" * 32, "5" * 16)
    assert (finding.related_trace_id, finding.related_span_id) == ("a" * 32, "4" * 16)


def test_correct_propagation_has_no_findings() -> None:
    """When every attempt carries its context, no rule fires."""
    assert propagation_findings(_retry_story(second_attempt_has_context=True)) == []


def test_answered_client_is_not_evidence() -> None:
    """A CLIENT span whose call arrived in its own trace does not explain an unrelated root elsewhere."""
    spans = _retry_story(second_attempt_has_context=True)
    spans.append(span("c", "6", kind="SERVER", start=14, end=16, service="payments", host="h2"))
    assert find_lost_context(spans) == []


def test_client_outside_the_time_window_is_not_evidence() -> None:
    """A root starting 5 s after the caller ended is not that caller's request (tolerance 1 s)."""
    spans = [
        span("a", "1", kind="CLIENT", start=0, end=10, server_address="payments"),
        span("b", "2", kind="SERVER", start=5_010, end=5_020, service="payments"),
    ]
    assert find_lost_context(spans) == []
    assert len(find_lost_context(spans, RuleOptions(tolerance_ns=6_000 * MS))) == 1


def test_consumer_root_without_link_after_a_producer_is_lost_context() -> None:
    """A CONSUMER root with no link, after a PRODUCER to the same topic, is flagged; with a link it is not."""
    producer = span("a", "1", kind="PRODUCER", start=0, end=2, messaging_destination_name="orders")
    lost = span("b", "2", kind="CONSUMER", start=50, end=60, messaging_destination_name="orders")
    linked = span(
        "c",
        "3",
        kind="CONSUMER",
        start=50,
        end=60,
        messaging_destination_name="orders",
        links=[SpanLink("a" * 32, "1" * 16)],
    )
    other_topic = span("d", "4", kind="CONSUMER", start=50, end=60, messaging_destination_name="refunds")
    findings = find_lost_context([producer, lost, linked, other_topic])
    assert [(f.trace_id, f.related_span_id) for f in findings] == [("b" * 32, "1" * 16)]


def test_consumer_root_long_after_the_producer_is_not_flagged() -> None:
    """A consumer starting later than max_queue_delay after the producer ended is not matched."""
    producer = span("a", "1", kind="PRODUCER", start=0, end=2, messaging_destination_name="orders")
    late = span("b", "2", kind="CONSUMER", start=70_000, end=70_001, messaging_destination_name="orders")
    assert find_lost_context([producer, late]) == []


def test_local_root_inside_another_request_of_the_same_process_is_lost_context() -> None:
    """A thread-pool span that became a root while a request of the same service and host ran is flagged."""
    spans = [
        span("a", "1", kind="SERVER", start=0, end=100),
        span("b", "2", kind="INTERNAL", start=30, end=40),  # same service, same host
        span("c", "3", kind="INTERNAL", start=30, end=40, host="h9"),  # another host
        span("d", "4", kind="INTERNAL", start=200, end=210),  # after the request
    ]
    findings = find_lost_context(spans)
    assert [(f.trace_id, f.related_span_id) for f in findings] == [("b" * 32, "1" * 16)]
    assert find_lost_context(spans, RuleOptions(local_rule=False)) == []


def test_child_with_another_requests_user_is_a_context_leak() -> None:
    """A span for user bob under a request of user alice is flagged, naming alice's span."""
    spans = [
        span("a", "1", kind="SERVER", enduser_id="alice"),
        span("a", "2", parent="1", kind="INTERNAL"),  # no key: looked through
        span("a", "3", parent="2", kind="CLIENT", enduser_id="bob"),
        span("a", "4", parent="2", kind="CLIENT", enduser_id="alice"),
    ]
    (finding,) = find_context_leaks(spans)
    assert finding.code == CONTEXT_LEAK_SUSPECTED
    assert (finding.span_id, finding.related_span_id) == ("3" * 16, "1" * 16)
    assert "bob" in finding.message and "alice" in finding.message


def test_leak_rule_is_silent_without_request_attributes_and_survives_cycles() -> None:
    """Spans without request keys, or a parent cycle, produce no leak finding and terminate."""
    spans = [span("a", "1", parent="2"), span("a", "2", parent="1", enduser_id="x")]
    assert find_context_leaks(spans) == []


def test_diagnostics_by_trace_has_the_assembler_shape() -> None:
    """Findings become {code, span_id, message} entries grouped by the trace they belong to."""
    out = diagnostics_by_trace(find_lost_context(_retry_story(second_attempt_has_context=False)))
    assert list(out) == ["b" * 32]
    assert out["b" * 32][0]["code"] == LOST_CONTEXT_SUSPECTED and out["b" * 32][0]["span_id"] == "5" * 16


def test_options_are_validated() -> None:
    """Negative thresholds are refused when the options are built."""
    with pytest.raises(ValueError, match="tolerance_ns"):
        RuleOptions(tolerance_ns=-1)


def test_watch_flags_a_root_whose_caller_was_released_earlier() -> None:
    """The caller's trace checked first, the lost root's trace next: the root is flagged then."""
    story = _retry_story(second_attempt_has_context=False)
    watch = PropagationWatch()
    assert watch.check([s for s in story if s.trace_id == "a" * 32]) == {}
    out = watch.check([s for s in story if s.trace_id == "b" * 32])
    assert [d["code"] for d in out["b" * 32]] == [LOST_CONTEXT_SUSPECTED]


def test_watch_forgets_evidence_beyond_its_horizon_and_bound() -> None:
    """Evidence older than the horizon (by span time), or beyond max_evidence spans, is dropped."""
    story = _retry_story(second_attempt_has_context=False)
    caller_trace = [s for s in story if s.trace_id == "a" * 32]
    root_trace = [s for s in story if s.trace_id == "b" * 32]
    later = [span("z", "9", kind="CLIENT", start=10_000, end=10_001, peer_service="elsewhere")]
    watch = PropagationWatch(horizon_ns=5_000 * MS)
    watch.check(caller_trace)
    watch.check(later)  # moves the newest end 10 s on: the caller's evidence is past the horizon
    assert watch.check(root_trace) == {}
    bounded = PropagationWatch(max_evidence=1)
    bounded.check(caller_trace)
    bounded.check(later)
    assert bounded.check(root_trace) == {}


def test_watch_reports_leaks_within_the_batch() -> None:
    """Context leaks need no history: they are found in the batch being checked."""
    spans = [span("a", "1", kind="SERVER", enduser_id="alice"), span("a", "2", parent="1", enduser_id="bob")]
    assert [d["code"] for d in PropagationWatch().check(spans)["a" * 32]] == [CONTEXT_LEAK_SUSPECTED]


def test_watch_stays_bounded_and_still_matches_after_pruning() -> None:
    """After many prunes the watch holds at most max_evidence spans and still flags a fresh caller's root."""
    story = _retry_story(second_attempt_has_context=False)
    caller_trace = [s for s in story if s.trace_id == "a" * 32]
    root_trace = [s for s in story if s.trace_id == "b" * 32]
    watch = PropagationWatch(max_evidence=3)
    for i in range(20):  # unrelated callers of payments, all pruned before the story's caller arrives
        watch.check([span(f"{i % 10}", "7", kind="CLIENT", start=10, end=20, peer_service="payments")])
        assert watch.evidence <= 3
    watch.check(caller_trace)
    (diagnostic,) = watch.check(root_trace)["b" * 32]
    assert diagnostic["code"] == LOST_CONTEXT_SUSPECTED
    assert "4" * 16 in diagnostic["message"]  # the story's caller, not one of the pruned ones
