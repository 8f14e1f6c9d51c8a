"""`run_story`: customers check out, payments charge (with a retry), fulfillment ships in a batch."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
)

from pipeline.adapters.otel.sampling import parent_or_link_based
from pipeline.demo_services.pitfalls import Pitfalls
from pipeline.demo_services.services import Checkout, Fulfillment, Payments
from pipeline.demo_services.telemetry import ServiceSpec, build_service_telemetry
from pipeline.demo_services.transport import InMemoryOrderQueue, OrderTransport

# payments-1's clock runs 150 ms behind: enough for clock-skew correction to show, well inside
# the 1 s tolerance of the cross-trace propagation rules.
PAYMENTS_CLOCK_OFFSET_NS = -150_000_000
USERS = ("alice", "bob")


# Records spans without sampling them: checkout's setting in the sampling pitfall.
_RECORD_ONLY = StaticSampler(Decision.RECORD_ONLY)


@dataclass
class StoryResult:
    """What happened: the orders placed and how many order events the worker processed."""

    order_ids: list[str] = field(default_factory=list)
    processed: int = 0
    flushed: bool = False


def _specs(pitfalls: Pitfalls, sampled: bool, clock_offset_ns: int) -> list[ServiceSpec]:
    if pitfalls.inconsistent_sampling:
        record_only = ParentBased(_RECORD_ONLY, local_parent_not_sampled=_RECORD_ONLY)
        checkout = ServiceSpec("checkout", "checkout-1", record_only, export_unsampled=True)
        payments_sampler: Sampler = ALWAYS_ON  # the mistake: ignores the caller's decision
    else:
        checkout = ServiceSpec("checkout", "checkout-1", ParentBased(ALWAYS_ON if sampled else ALWAYS_OFF))
        payments_sampler = ParentBased(ALWAYS_ON)
    return [
        checkout,
        ServiceSpec("payments", "payments-1", payments_sampler, clock_offset_ns=clock_offset_ns),
        ServiceSpec("fulfillment", "worker-1", parent_or_link_based(ALWAYS_ON)),
    ]


def run_story(
    sink: SpanExporter,
    *,
    transport: OrderTransport | None = None,
    pitfalls: Pitfalls = Pitfalls(),  # noqa: B008 (frozen, so sharing the default is safe)
    orders: int = 2,
    sampled: bool = True,
    clock_offset_ns: int = PAYMENTS_CLOCK_OFFSET_NS,
    items_per_order: int = 2,
    receive_timeout_s: float = 60.0,
) -> StoryResult:
    """Runs `orders` checkouts, two at a time, then one fulfillment batch over all order events.

    Each checkout: `POST /checkout` (SERVER) → `reserve stock` per item in a thread pool →
    `POST /payments` (CLIENT, retried once because payments fails the first attempt) → payments'
    `POST /payments` (SERVER) and `charge card` → `send orders` (PRODUCER). Then fulfillment's
    `process orders` (CONSUMER, linked to every order event) with one `ship order` per order.

    Args:
        sink: where every service's spans go (a `KafkaSpanExporter`, an `InMemorySpanExporter`);
            flushed, not shut down.
        transport: how order events travel; default an in-memory queue.
        pitfalls: which mistakes the services make.
        orders: how many checkouts (run in pairs that overlap, alternately for alice and bob).
        sampled: checkout's sampling decision for new traces (the decision then travels).
        clock_offset_ns: how far payments-1's clock is off.
        items_per_order: thread-pool tasks per checkout.
        receive_timeout_s: how long fulfillment waits for the order events.
    """
    queue: OrderTransport = transport or InMemoryOrderQueue()
    telemetry = build_service_telemetry(sink, _specs(pitfalls, sampled, clock_offset_ns))
    payments = Payments(telemetry.tracer("payments"))
    checkout = Checkout(telemetry.tracer("checkout"), payments, queue, pitfalls)
    fulfillment = Fulfillment(telemetry.tracer("fulfillment"), pitfalls)
    result = StoryResult()
    try:
        for first in range(0, orders, 2):
            pair = [f"order-{i + 1}" for i in range(first, min(first + 2, orders))]
            rendezvous = threading.Barrier(len(pair), timeout=30) if len(pair) > 1 else None
            threads = [
                threading.Thread(
                    target=checkout.handle,
                    args=(order_id, USERS[k % 2], [f"sku-{j}" for j in range(items_per_order)], rendezvous),
                )
                for k, order_id in enumerate(pair)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result.order_ids.extend(pair)
        queue.flush(receive_timeout_s)
        batch = queue.receive(orders, receive_timeout_s)
        result.processed = fulfillment.process_batch(batch) if batch else 0
    finally:
        checkout.close()
        result.flushed = telemetry.flush()
        telemetry.shutdown()
    return result
