"""Retries that keep their headers and their trace.

The pitfall this prevents: a retry that rebuilds the request and forgets the propagation
headers, so the callee's span of the retried attempt starts a new trace. `call_with_retries`
hands every attempt a copy of the *original* headers (application headers such as an idempotency
key included) and, by default, one CLIENT span per attempt whose context replaces `traceparent`
in that copy, as the OpenTelemetry HTTP semantic conventions prescribe for resends: each resend is
its own span carrying `http.request.resend_count` (1 for the first retry, absent on the first
attempt). Backoff is tenacity's exponential backoff with jitter, bounded per wait and in attempts.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import Attributes
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from pipeline.adapters.otel.propagation import Headers, inject_headers

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. The defaults bound the total wait to about 1.5 s."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 1.0
    jitter_s: float = 0.1
    retry_on: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.jitter_s < 0:
            raise ValueError("backoff and jitter must be >= 0")


def call_with_retries(
    tracer: Tracer,
    name: str,
    call: Callable[[Headers], R],
    *,
    headers: Headers | None = None,
    policy: RetryPolicy | None = None,
    span_per_attempt: bool = True,
    attributes: Attributes = None,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Calls `call(headers)` until it succeeds or the policy gives up; every attempt gets the
    original headers.

    Args:
        tracer: the caller's tracer.
        name: the attempt span's name (e.g. `POST /pay`).
        call: sends the request with the headers it is given.
        headers: the original headers (list of pairs or dict); never mutated.
        policy: attempts, backoff and which exceptions are retried.
        span_per_attempt: True = a CLIENT span per attempt whose context is injected into that
            attempt's headers; False = the headers are resent unchanged (a message re-produced
            with the PRODUCER span's `traceparent` it already carries).
        attributes: extra attributes on every attempt span.
        sleep: waits between attempts (tests pass a no-op).

    Returns:
        The value of the first successful call.

    Raises:
        The last attempt's exception when every attempt failed, or the first exception that
        the policy does not retry.
    """
    policy = policy or RetryPolicy()
    original: Headers = [] if headers is None else headers
    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts),
        # initial * 2^(n-1), capped at max_backoff_s, plus up to jitter_s of random jitter
        wait=wait_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
        + wait_random(0, policy.jitter_s),
        retry=retry_if_exception_type(policy.retry_on),
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            attempt_headers = copy.copy(original)  # a failed attempt's edits never leak into the next
            if not span_per_attempt:
                return call(attempt_headers)
            attrs: dict[str, Any] = dict(attributes or {})
            if number > 1:
                attrs["http.request.resend_count"] = number - 1
            with tracer.start_as_current_span(
                name, kind=SpanKind.CLIENT, attributes=attrs, record_exception=True,
                set_status_on_exception=False,
            ) as span:
                inject_headers(attempt_headers)
                try:
                    return call(attempt_headers)
                except BaseException as exc:
                    span.set_attribute("error.type", type(exc).__qualname__)
                    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
                    raise
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
