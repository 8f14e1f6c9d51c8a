"""The fast wire encoder writes what the SDK's OTLP encoder writes, plus the trace flags."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from pipeline.adapters.otel.otlp import to_request
from pipeline.adapters.otel.otlp_wire import encode_request


def _varied_spans():
    exporter = InMemorySpanExporter()
    providers = [
        TracerProvider(resource=Resource.create({"service.name": name, "host.name": "h", "n": 3}))
        for name in ("a", "b")
    ]
    for p in providers:
        p.add_span_processor(SimpleSpanProcessor(exporter))
    remote = SpanContext(
        0x1234, 0x99, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("v", "x")])
    )
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    tracer_a = providers[0].get_tracer("lib.a", "1.2", schema_url="https://opentelemetry.io/schemas/1.21.0")
    tracer_b = providers[1].get_tracer("lib.b")
    attrs = {
        "s": "ü-text",
        "i": -42,
        "big": 2**62,
        "f": 1.5,
        "b": True,
        "no": False,
        "ls": ["x", "y"],
        "li": [1, 2],
        "lf": [0.5],
        "lb": [True],
    }
    with tracer_a.start_as_current_span(
        "server", context=parent, kind=SpanKind.SERVER, attributes=attrs
    ) as s:
        s.add_event("evt", {"k": "v", "n": 7, "s": "ü-text"})  # same pair as a span attribute
        s.add_event("bare")
        s.set_status(Status(StatusCode.ERROR, "went wrong"))
        link = Link(remote, {"why": "batch", "s": "ü-text"})  # same pair again, in a link
        with tracer_a.start_as_current_span("child", links=[link]) as c:
            c.set_status(Status(StatusCode.OK))
    for kind in SpanKind:
        tracer_b.start_span(f"k-{kind.name}", kind=kind).end()
    tracer_b.start_span("empty-name-attrs", attributes={}).end()
    return exporter.get_finished_spans()


def test_wire_encoding_parses_to_the_sdk_encoders_message() -> None:
    """For spans covering every field, both encoders give equal ExportTraceServiceRequest messages."""
    spans = _varied_spans()
    fast = ExportTraceServiceRequest.FromString(encode_request(spans))
    expected = to_request(spans)
    for rs in expected.resource_spans:  # the SDK encoder omits a link's tracestate; OTLP has the field
        for ss in rs.scope_spans:
            for span in ss.spans:
                for link in span.links:
                    link.trace_state = "v=x"
    assert fast == expected
    assert sum(len(ss.spans) for rs in fast.resource_spans for ss in rs.scope_spans) == len(spans)


def test_wire_encoding_is_stable_with_the_attribute_cache_warm() -> None:
    """Encoding the same spans twice (second time from the cache) gives identical bytes."""
    spans = _varied_spans()
    assert encode_request(spans) == encode_request(spans)


_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_values = st.one_of(
    _scalars,
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3),
    st.lists(st.floats(allow_nan=False), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(
    attrs=st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=6),
    name=st.text(max_size=30),
    kind=st.sampled_from(list(SpanKind)),
    flags=st.sampled_from([0, 1, 2, 3]),
    description=st.one_of(st.none(), st.text(max_size=20)),
)
def test_wire_encoding_matches_the_sdk_encoder_for_any_attributes(
    attrs, name, kind, flags, description
) -> None:
    """For generated attributes, names, kinds, flags and statuses, both encoders agree."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "p"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(flags | 1))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    span = provider.get_tracer("t").start_span(name, context=parent, kind=kind, attributes=attrs)
    span.add_event("e", attrs)
    if description is not None:
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()
    spans = exporter.get_finished_spans()
    assert ExportTraceServiceRequest.FromString(encode_request(spans)) == to_request(spans)
