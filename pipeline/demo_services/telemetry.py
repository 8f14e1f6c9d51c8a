"""Tracer providers for the demo services: one per service, all exporting to one sink.

Each service gets its own `TracerProvider` (its own resource: `service.name`, `host.name`) and a
`BatchSpanProcessor` in front of the shared sink, as a real deployment would: many services,
one obspipe topic. A skewed host is simulated by `ClockOffsetExporter`, which shifts the times of
every span of that host before export: the SDK stamps spans with `time.time_ns()` and has no
clock hook, and shifting at export time is exactly what a clock running off by a constant does
(every span of the host moves together; spans of other hosts do not).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Tracer

# Batches of up to 1,000 messages link to every message: above the SDK's default of 128 links.
MAX_LINKS = 1_000


class SharedExporter(SpanExporter):
    """Lets several processors share one exporter; only the sink's owner shuts it down."""

    def __init__(self, sink: SpanExporter) -> None:
        self._sink = sink

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._sink.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._sink.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Does nothing: other providers still export through the sink."""


def _shifted(span: ReadableSpan, offset_ns: int) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=[Event(e.name, e.attributes, e.timestamp + offset_ns) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=None if span.start_time is None else span.start_time + offset_ns,
        end_time=None if span.end_time is None else span.end_time + offset_ns,
        instrumentation_scope=span.instrumentation_scope,
    )


class ClockOffsetExporter(SpanExporter):
    """Exports spans as a host whose clock is `offset_ns` off would have timed them."""

    def __init__(self, sink: SpanExporter, offset_ns: int) -> None:
        self._sink = sink
        self._offset_ns = offset_ns

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._sink.export([_shifted(s, self._offset_ns) for s in spans])

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._sink.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._sink.shutdown()


class RecordedSpanProcessor(SpanProcessor):
    """Exports every ended span, sampled or not, when flushed.

    Some services export unsampled spans too (e.g. so that span metrics count every request);
    the SDK's processors export sampled spans only, so this one stands in for them.
    """

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._spans.append(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            batch, self._spans = self._spans, []
        if batch:
            self._exporter.export(batch)
        return self._exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.force_flush()
        self._exporter.shutdown()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How one demo service is instrumented."""

    name: str
    host: str
    sampler: Sampler
    clock_offset_ns: int = 0
    export_unsampled: bool = False


@dataclass
class ServiceTelemetry:
    """The tracer providers of the demo services."""

    providers: dict[str, TracerProvider] = field(default_factory=dict)

    def tracer(self, service: str) -> Tracer:
        return self.providers[service].get_tracer("obspipe.demo_services")

    def flush(self, timeout_millis: int = 30_000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.providers.values())

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def build_service_telemetry(sink: SpanExporter, specs: Sequence[ServiceSpec]) -> ServiceTelemetry:
    """One provider per spec, each exporting through a batch processor to the shared `sink`.

    The sink is not shut down by `ServiceTelemetry.shutdown()`; its owner does that.
    """
    telemetry = ServiceTelemetry()
    for spec in specs:
        exporter: SpanExporter = SharedExporter(sink)
        if spec.clock_offset_ns:
            exporter = ClockOffsetExporter(exporter, spec.clock_offset_ns)
        provider = TracerProvider(
            sampler=spec.sampler,
            resource=Resource.create({"service.name": spec.name, "host.name": spec.host}),
            span_limits=SpanLimits(max_links=MAX_LINKS),
        )
        processor: SpanProcessor = (
            RecordedSpanProcessor(exporter) if spec.export_unsampled else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
        telemetry.providers[spec.name] = provider
    return telemetry
