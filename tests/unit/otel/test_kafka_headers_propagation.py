"""Kafka header Getter/Setter and inject/extract through OpenTelemetry's W3C propagators."""

from __future__ import annotations

from opentelemetry import baggage, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from pipeline.adapters.otel.propagation import (
    GETTER,
    extract_context,
    inject_headers,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
# The example of the W3C Trace Context recommendation, section 3.2.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _remote_context(flags: int = 1, state: str = "") -> Context:
    sc = SpanContext(
        TRACE_ID,
        SPAN_ID,
        is_remote=True,
        trace_flags=TraceFlags(flags),
        trace_state=TraceState.from_header([state]) if state else TraceState(),
    )
    return trace.set_span_in_context(NonRecordingSpan(sc))


def test_inject_writes_w3c_traceparent_as_bytes_into_a_list() -> None:
    """inject_headers appends a bytes `traceparent` equal to the W3C encoding of the context."""
    headers = inject_headers([("k", b"v")], context=_remote_context())
    assert ("traceparent", TRACEPARENT.encode()) in headers
    assert ("k", b"v") in headers


def test_inject_replaces_an_existing_traceparent_instead_of_duplicating_it() -> None:
    """Re-injecting into headers that already carry a traceparent leaves exactly one."""
    headers: list[tuple[str, bytes | str | None]] = [
        ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")
    ]
    inject_headers(headers, context=_remote_context())
    assert [v for k, v in headers if k == "traceparent"] == [TRACEPARENT.encode()]


def test_inject_into_dict_headers() -> None:
    """Dict headers get the same bytes values as list headers."""
    headers = inject_headers({}, context=_remote_context())
    assert isinstance(headers, dict)
    assert headers["traceparent"] == TRACEPARENT.encode()


def test_extract_reads_bytes_and_str_values_from_pairs_and_dicts() -> None:
    """Whatever the carrier shape or value type, the extracted span context is the W3C example's."""
    carriers = [
        [("traceparent", TRACEPARENT.encode())],
        [("traceparent", TRACEPARENT)],
        (("traceparent", TRACEPARENT.encode()),),  # aiokafka: a tuple of tuples
        {"traceparent": TRACEPARENT.encode()},
        {"Traceparent": TRACEPARENT},
    ]
    for carrier in carriers:
        sc = trace.get_current_span(extract_context(carrier, Context())).get_span_context()
        assert (sc.trace_id, sc.span_id, sc.is_remote, sc.trace_flags.sampled) == (
            TRACE_ID,
            SPAN_ID,
            True,
            True,
        )


def test_malformed_headers_leave_the_context_unchanged() -> None:
    """Garbage traceparent values, invalid UTF-8, None values or no headers never raise and add nothing."""
    base = _remote_context()
    for carrier in (
        [("traceparent", b"\xff\xfe\x00")],
        [("traceparent", b"00-zz-yy-01")],
        [("traceparent", None)],
        None,
        [],
        42,
    ):
        ctx = extract_context(carrier, base)  # type: ignore[arg-type]
        assert trace.get_current_span(ctx).get_span_context().span_id == SPAN_ID


def test_tracestate_and_baggage_round_trip() -> None:
    """tracestate and baggage injected on one side come back unchanged on the other."""
    ctx = baggage.set_baggage("tenant", "acme", _remote_context(flags=0, state="vendor=abc,other=1"))
    headers = inject_headers([], context=ctx)
    back = extract_context(headers, Context())
    sc = trace.get_current_span(back).get_span_context()
    assert sc.trace_state.to_header() == "vendor=abc,other=1"
    assert not sc.trace_flags.sampled
    assert baggage.get_baggage("tenant", back) == "acme"


def test_getter_returns_every_value_of_a_repeated_key() -> None:
    """A header repeated twice yields both values (the propagator then picks per W3C rules)."""
    assert GETTER.get([("baggage", b"a=1"), ("x", b"y"), ("baggage", "b=2")], "baggage") == ["a=1", "b=2"]
    assert GETTER.get([("x", b"y")], "baggage") is None
