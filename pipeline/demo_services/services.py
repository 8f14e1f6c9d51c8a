"""checkout, payments and fulfillment: each a few spans, each with its pitfall switches.

Every service starts its entry span from an empty context plus what its transport carried (the
headers), as separate processes would: nothing flows between them through Python's contextvars.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from pipeline.adapters.otel.context_executor import ContextThreadPoolExecutor
from pipeline.adapters.otel.messaging import batch_consumer_span, message_info, producer_span
from pipeline.adapters.otel.propagation import Headers, ReadableHeaders, extract_context
from pipeline.adapters.otel.retry import RetryPolicy, call_with_retries
from pipeline.demo_services.pitfalls import Pitfalls
from pipeline.demo_services.transport import OrderTransport

PAYMENTS = "payments"
# Retries in the demo wait milliseconds, not the production default of 100 ms and more.
DEMO_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.005, max_backoff_s=0.02, jitter_s=0.005)


class Payments:
    """The payments service; its first `fail_first` attempts per order fail (a flaky dependency)."""

    def __init__(self, tracer: Tracer, fail_first: int = 1, outage: threading.Event | None = None) -> None:
        self._tracer = tracer
        self._fail_first = fail_first
        # While set, every attempt fails: the demo's payments outage.
        self._outage = outage
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}

    def handle(self, headers: ReadableHeaders, order_id: str, user: str) -> str:
        """`POST /payments` as the RPC server: continues the caller's trace from the headers."""
        parent = extract_context(headers, otel_context.Context())
        attrs = {"enduser.id": user, "app.order.id": order_id, "server.address": PAYMENTS}
        with self._tracer.start_as_current_span(
            "POST /payments", context=parent, kind=SpanKind.SERVER, attributes=attrs
        ):
            with self._lock:
                attempt = self._attempts[order_id] = self._attempts.get(order_id, 0) + 1
            with self._tracer.start_as_current_span("charge card", attributes={"enduser.id": user}):
                if attempt <= self._fail_first or (self._outage is not None and self._outage.is_set()):
                    raise ConnectionError("payments: connection reset by the card network")
            return f"paid-{order_id}"


class Checkout:
    """The checkout service: reserves stock in a thread pool, pays, publishes the order event."""

    def __init__(
        self,
        tracer: Tracer,
        payments: Payments,
        orders: OrderTransport,
        pitfalls: Pitfalls,
        pool_size: int = 4,
    ) -> None:
        self._tracer = tracer
        self._payments = payments
        self._orders = orders
        self._pitfalls = pitfalls
        self._pool: ThreadPoolExecutor = (
            ThreadPoolExecutor(pool_size)
            if pitfalls.thread_pool_loses_context
            else ContextThreadPoolExecutor(pool_size)
        )
        # The pitfall: one attribute shared by every concurrent request.
        self._current_request: trace.Span | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def handle(
        self, order_id: str, user: str, items: Sequence[str], rendezvous: threading.Barrier | None
    ) -> None:
        """`POST /checkout`; `rendezvous` makes concurrent requests overlap deterministically."""
        attrs = {"enduser.id": user, "app.order.id": order_id}
        with self._tracer.start_as_current_span(
            "POST /checkout", context=otel_context.Context(), kind=SpanKind.SERVER, attributes=attrs
        ) as server:
            if self._pitfalls.shared_request_variable:
                self._current_request = server
            if rendezvous is not None:
                rendezvous.wait()
            work_ctx = (
                trace.set_span_in_context(self._current_request)
                if self._pitfalls.shared_request_variable and self._current_request is not None
                else otel_context.get_current()
            )
            token = otel_context.attach(work_ctx)
            try:
                self._reserve(user, items)
                self._pay(order_id, user)
                self._publish(order_id, user, items)
            finally:
                otel_context.detach(token)

    def _reserve_one(self, user: str, sku: str) -> None:
        with self._tracer.start_as_current_span(
            "reserve stock", attributes={"enduser.id": user, "app.sku": sku}
        ):
            pass

    def _reserve(self, user: str, items: Sequence[str]) -> None:
        for future in [self._pool.submit(self._reserve_one, user, sku) for sku in items]:
            future.result()

    def _pay(self, order_id: str, user: str) -> None:
        attempts = 0

        def send(headers: Headers) -> str:
            nonlocal attempts
            attempts += 1
            if self._pitfalls.retry_drops_headers and attempts > 1:
                headers = []  # the bug: the retry builds a fresh request without the headers
            return self._payments.handle(headers, order_id, user)

        call_with_retries(
            self._tracer,
            "POST /payments",
            send,
            policy=DEMO_RETRY,
            attributes={"enduser.id": user, "peer.service": PAYMENTS, "server.address": PAYMENTS},
        )

    def _publish(self, order_id: str, user: str, items: Sequence[str]) -> None:
        with producer_span(self._tracer, self._orders.topic, attributes={"enduser.id": user}) as (
            _span,
            headers,
        ):
            value = orjson.dumps({"order_id": order_id, "user": user, "items": list(items)})
            self._orders.send(order_id.encode(), value, headers)


class Fulfillment:
    """The batch worker: one span per batch linking to every order event, one child per order."""

    def __init__(self, tracer: Tracer, pitfalls: Pitfalls) -> None:
        self._tracer = tracer
        self._pitfalls = pitfalls

    def process_batch(self, messages: Sequence[Any]) -> int:
        """Ships every order of the batch; returns how many."""
        if self._pitfalls.queue_parent_child:
            for message in messages:  # the pitfall: the producer's context as the parent
                parent = extract_context(message_info(message).headers, otel_context.Context())
                with self._tracer.start_as_current_span(
                    "process orders", context=parent, kind=SpanKind.CONSUMER
                ):
                    self._ship(message)
            return len(messages)
        with batch_consumer_span(self._tracer, messages, context=otel_context.Context()):
            for message in messages:
                self._ship(message)
        return len(messages)

    def _ship(self, message: Any) -> None:
        value = message.value() if callable(message.value) else message.value
        order = orjson.loads(value)
        with self._tracer.start_as_current_span("ship order", attributes={"app.order.id": order["order_id"]}):
            pass
