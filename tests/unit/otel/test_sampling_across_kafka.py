"""parent_or_link_based: parents decide as ParentBased does; link-only roots follow their links."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

from pipeline.adapters.otel.sampling import parent_or_link_based


def _ctx(span_id: int, sampled: bool) -> SpanContext:
    return SpanContext(0xABC, span_id, is_remote=True, trace_flags=TraceFlags(int(sampled)))


def _recorded(root_sampler, **start_kwargs) -> bool:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=parent_or_link_based(root_sampler))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s", **start_kwargs).end()
    return len(exporter.get_finished_spans()) == 1


def test_root_with_a_sampled_link_is_sampled_even_if_the_root_sampler_says_no() -> None:
    """A consumer linking to one sampled and one unsampled message is sampled."""
    assert _recorded(ALWAYS_OFF, links=[Link(_ctx(1, False)), Link(_ctx(2, True))])


def test_root_whose_links_are_all_unsampled_is_dropped() -> None:
    """A consumer linking only to unsampled producers is dropped, whatever the root sampler says."""
    assert not _recorded(ALWAYS_ON, links=[Link(_ctx(1, False))])


def test_root_without_links_asks_the_root_sampler() -> None:
    """No parent and no links: the root sampler decides."""
    assert _recorded(ALWAYS_ON) and not _recorded(ALWAYS_OFF)


def test_a_parent_decides_over_links() -> None:
    """With an unsampled parent, a sampled link does not turn sampling on (ParentBased)."""
    parent = trace.set_span_in_context(NonRecordingSpan(_ctx(9, False)))
    assert not _recorded(ALWAYS_ON, context=parent, links=[Link(_ctx(1, True))])


def test_parent_tracestate_is_kept() -> None:
    """A child of a remote parent keeps the parent's tracestate."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=parent_or_link_based(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sc = SpanContext(
        0xABC, 7, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("v", "1")])
    )
    provider.get_tracer("t").start_span("s", context=trace.set_span_in_context(NonRecordingSpan(sc))).end()
    assert exporter.get_finished_spans()[0].context.trace_state.to_header() == "v=1"
