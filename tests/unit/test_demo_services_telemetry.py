"""Demo telemetry plumbing: clock offsets shift a host's spans; a shared sink outlives one provider."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline.demo_services.telemetry import ClockOffsetExporter, SharedExporter


def test_clock_offset_shifts_start_end_and_events_only() -> None:
    """Every timestamp moves by the offset; ids, parent and name stay as they were."""
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("s", start_time=1_000)
    span.add_event("e", timestamp=1_500)
    span.end(end_time=2_000)
    sink = InMemorySpanExporter()
    ClockOffsetExporter(sink, -300).export([span])
    (out,) = sink.get_finished_spans()
    assert (out.start_time, out.end_time, out.events[0].timestamp) == (700, 1_700, 1_200)
    assert (out.context, out.name) == (span.context, "s")


def test_shared_exporter_ignores_shutdown_of_one_provider() -> None:
    """Shutting down one provider leaves the shared sink usable by another."""
    sink = InMemorySpanExporter()
    first, second = TracerProvider(), TracerProvider()
    first.add_span_processor(SimpleSpanProcessor(SharedExporter(sink)))
    second.add_span_processor(SimpleSpanProcessor(SharedExporter(sink)))
    first.shutdown()
    second.get_tracer("t").start_span("after").end()
    assert [s.name for s in sink.get_finished_spans()] == ["after"]
