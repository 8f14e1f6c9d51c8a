"""Demo traffic: the instrumented demo services publishing real spans to obspipe over Kafka.

Checkout calls payments (retried once: payments' first attempt per order fails), reserves
stock in a thread pool and publishes an order event to a Kafka topic; fulfillment consumes the
events in batches with one span linking to every message. payments-1's clock runs behind, so
clock-skew correction has work to do. During the story's outage payments fails every attempt
and checkouts end in errors: the SLO's error budget burns.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from confluent_kafka import Producer
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from pipeline.adapters.otel.exporter import KafkaSpanExporter, exporter_producer_config
from pipeline.adapters.otel.sampling import parent_or_link_based
from pipeline.demo.observer import QUIET_LOG_LEVEL
from pipeline.demo_services.pitfalls import Pitfalls
from pipeline.demo_services.services import Checkout, Fulfillment, Payments
from pipeline.demo_services.story import PAYMENTS_CLOCK_OFFSET_NS, USERS
from pipeline.demo_services.telemetry import ServiceSpec, build_service_telemetry
from pipeline.demo_services.transport import KafkaOrderTransport, build_kafka_order_transport
from pipeline.settings import Settings

_log = logging.getLogger(__name__)

ORDERS_TOPIC = "demo.orders"
BATCH_SIZE = 10  # order events per fulfillment batch: one consumer span with 10 links


@dataclass(slots=True)
class TrafficStats:
    """What the generator did so far."""

    orders: int = 0
    failed_checkouts: int = 0
    batches: int = 0


class DemoTraffic:
    """Runs checkouts at `orders_per_s` on a background thread until `stop()`."""

    def __init__(self, settings: Settings, bootstrap: str, *, orders_per_s: float = 8.0) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.orders_per_s = orders_per_s
        self.outage = threading.Event()
        self.stats = TrafficStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.exporter: KafkaSpanExporter | None = None

    def start(self) -> DemoTraffic:
        producer = Producer(
            {**exporter_producer_config(self.settings, self.bootstrap), "log_level": QUIET_LOG_LEVEL}
        )
        self.exporter = KafkaSpanExporter(producer, self.settings.topic_spans_in)
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stops traffic, processes the last order events, flushes every span to Kafka."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def spans_delivered(self) -> int:
        """Spans the broker acknowledged: the demo's 'spans produced'."""
        return 0 if self.exporter is None else self.exporter.stats.delivered

    @property
    def spans_lost_before_kafka(self) -> int:
        """Spans the exporter could not hand to Kafka (queue full, failed delivery, encoding)."""
        if self.exporter is None:
            return 0
        s = self.exporter.stats
        return s.delivery_failed + s.dropped_queue_full + s.encode_failed + s.too_large

    def _run(self) -> None:
        assert self.exporter is not None
        specs = [
            ServiceSpec("checkout", "checkout-1", ParentBased(ALWAYS_ON)),
            ServiceSpec(
                "payments", "payments-1", ParentBased(ALWAYS_ON), clock_offset_ns=PAYMENTS_CLOCK_OFFSET_NS
            ),
            ServiceSpec("fulfillment", "worker-1", parent_or_link_based(ALWAYS_ON)),
        ]
        telemetry = build_service_telemetry(self.exporter, specs)
        transport = build_kafka_order_transport(
            self.settings, ORDERS_TOPIC, "obspipe-demo-fulfillment", self.bootstrap
        )
        payments = Payments(telemetry.tracer("payments"), outage=self.outage)
        checkout = Checkout(telemetry.tracer("checkout"), payments, transport, Pitfalls())
        fulfillment = Fulfillment(telemetry.tracer("fulfillment"), Pitfalls())
        interval = 1.0 / self.orders_per_s
        pending = 0
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                n = self.stats.orders + 1
                try:
                    checkout.handle(f"order-{n}", USERS[n % 2], ["sku-1", "sku-2"], None)
                except Exception:  # the outage: the checkout request failed (its span says ERROR)
                    self.stats.failed_checkouts += 1
                else:
                    pending += 1
                self.stats.orders = n
                if pending >= BATCH_SIZE:
                    pending -= self._ship(transport, fulfillment, BATCH_SIZE, 2.0)
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
            if pending:
                self._ship(transport, fulfillment, pending, 10.0)
        finally:
            checkout.close()
            telemetry.flush()
            telemetry.shutdown()
            self.exporter.force_flush(30_000)
            transport.close()

    def _ship(
        self, transport: KafkaOrderTransport, fulfillment: Fulfillment, count: int, timeout_s: float
    ) -> int:
        transport.flush(timeout_s)
        batch = transport.receive(count, timeout_s)
        if batch:
            fulfillment.process_batch(batch)
            self.stats.batches += 1
        return len(batch)
