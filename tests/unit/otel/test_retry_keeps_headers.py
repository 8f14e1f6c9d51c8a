"""call_with_retries: the original headers on every attempt, a span per attempt, bounded attempts."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from pipeline.adapters.otel.propagation import extract_context
from pipeline.adapters.otel.retry import RetryPolicy, call_with_retries


class Flaky:
    """Fails the first `failures` calls with ConnectionError, recording each call's headers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[list[tuple[str, bytes]]] = []

    def __call__(self, headers):
        self.seen.append(list(headers))
        if len(self.seen) <= self.failures:
            raise ConnectionError("connection reset")
        return "ok"


def test_every_attempt_gets_the_original_headers_and_its_own_span(tracing) -> None:
    """Three attempts: each sends the idempotency key, a traceparent naming its own attempt span."""
    call = Flaky(failures=2)
    original = [("idempotency-key", b"order-7")]
    with tracing.tracer.start_as_current_span("checkout"):
        result = call_with_retries(tracing.tracer, "POST /pay", call, headers=original, sleep=lambda _s: None)
    assert result == "ok"
    assert original == [("idempotency-key", b"order-7")]  # never mutated
    attempts = [s for s in tracing.spans() if s.name == "POST /pay"]
    assert len(attempts) == 3 == len(call.seen)
    checkout = tracing.named("checkout")
    for n, (span, sent) in enumerate(zip(attempts, call.seen, strict=True)):
        assert ("idempotency-key", b"order-7") in sent
        assert [k for k, _ in sent].count("traceparent") == 1
        sc = trace.get_current_span(extract_context(sent)).get_span_context()
        assert sc.span_id == span.context.span_id
        assert span.parent.span_id == checkout.context.span_id
        assert span.kind is SpanKind.CLIENT
        assert span.attributes.get("http.request.resend_count") == (n or None)
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert attempts[0].attributes["error.type"] == "ConnectionError"


def test_gives_up_after_max_attempts_with_the_last_error(tracing) -> None:
    """With 2 attempts allowed and 5 failures queued, the second ConnectionError propagates."""
    call = Flaky(failures=5)
    with pytest.raises(ConnectionError):
        call_with_retries(
            tracing.tracer, "rpc", call, policy=RetryPolicy(max_attempts=2), sleep=lambda _s: None
        )
    assert len(call.seen) == 2


def test_non_retryable_errors_are_not_retried(tracing) -> None:
    """An exception outside policy.retry_on stops at the first attempt."""
    calls = []

    def bad(headers):
        calls.append(headers)
        raise ValueError("400 bad request")

    with pytest.raises(ValueError):
        call_with_retries(tracing.tracer, "rpc", bad, sleep=lambda _s: None)
    assert len(calls) == 1


def test_backoff_waits_are_bounded(tracing) -> None:
    """Waits grow exponentially from initial_backoff_s and never exceed max_backoff_s (+ jitter)."""
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=6, initial_backoff_s=0.1, max_backoff_s=0.5, jitter_s=0.0)
    with pytest.raises(ConnectionError):
        call_with_retries(tracing.tracer, "rpc", Flaky(failures=10), policy=policy, sleep=waits.append)
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_unchanged_headers_mode_resends_byte_identical_headers(tracing) -> None:
    """span_per_attempt=False resends exactly the given headers (a message re-produced as is)."""
    call = Flaky(failures=1)
    original = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    call_with_retries(
        tracing.tracer, "send", call, headers=original, span_per_attempt=False, sleep=lambda _s: None
    )
    assert call.seen == [original, original]
    assert tracing.spans() == ()


def test_policy_rejects_nonsense() -> None:
    """A policy with zero attempts is refused when built."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
