"""The at-least-once building block of every stream app: outputs delivered, then inputs acked.

faust's own `topic.send()` costs ~130 µs per record and returns when the record is queued,
not delivered (DESIGN.md §6). obspipe's apps therefore produce their outputs through an
app-owned confluent-kafka producer and hold the faust input events (`stream.noack()`) until
the producer's delivery callbacks confirm every output made from them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.adapters.kafka.config import producer_config
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# Delivery reports are served every 5 ms while records await delivery, so acks (and so
# commits) flow between batches; with nothing in flight, every 100 ms (for librdkafka's error
# and log events), and the next produce() brings the 5 ms back. Measured here on idle workers:
# polling every 5 ms regardless, from a task sleeping in between, cost 1.6 % of a core per worker.
POLL_INTERVAL_S = 0.005
IDLE_POLL_INTERVAL_S = 0.1
# When librdkafka's local queue is full, wait this long for deliveries to make room.
QUEUE_FULL_WAIT_S = 0.05

ProduceHeaders = list[tuple[str, str | bytes | None]]


def too_large(exc: KafkaException) -> bool:
    """Whether `produce` refused a record for its size (over the producer's `message.max.bytes`):
    librdkafka says so at once, so the caller can split the record or send less."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


T = TypeVar("T")


def produce_in_halves(items: Sequence[T], produce: Callable[[Sequence[T]], None]) -> list[T]:
    """`produce(items)` as one record; while librdkafka refuses a record as `too_large`, produce
    each half as its own record instead. Returns the items refused even alone, in order, for the
    caller to dead-letter or shrink."""
    try:
        produce(items)
        return []
    except KafkaException as exc:
        if not too_large(exc):
            raise
    if len(items) == 1:
        return [items[0]]
    half = len(items) // 2
    return produce_in_halves(items[:half], produce) + produce_in_halves(items[half:], produce)


class Ackable(Protocol):
    """A faust event (or anything) whose `ack()` marks its input offset safe to commit."""

    def ack(self) -> Any: ...


@dataclass(slots=True)
class DeliveryStats:
    """Counters of the outputs of one producer."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    acked_inputs: int = 0


class AckGroup:
    """Input events whose offsets may be acked once every output made from them is delivered.

    Made by `AckingProducer.group(events)`; outputs are attached by passing the group to
    `AckingProducer.produce`; `seal()` says no more outputs will be attached. The events are
    acked exactly once, when the group is sealed and nothing is pending; never if any of its
    outputs failed (the offsets stay uncommitted and the records are replayed after a restart).
    """

    __slots__ = ("_events", "_failed", "_pending", "_sealed", "_stats", "on_delivery")

    def __init__(self, events: Sequence[Ackable], stats: DeliveryStats) -> None:
        # The delivery callback of this group's outputs, made once by the producer.
        self.on_delivery: Callable[[KafkaError | None, Message], None] | None = None
        self._events = events
        self._stats = stats
        self._pending = 0
        self._sealed = False
        self._failed = False

    @property
    def done(self) -> bool:
        return self._sealed and self._pending == 0

    def attach(self) -> None:
        self._pending += 1

    def delivered(self, ok: bool) -> None:
        self._pending -= 1
        self._failed = self._failed or not ok
        self._maybe_ack()

    def seal(self) -> None:
        """No more outputs will be attached; ack now if all attached ones are delivered."""
        self._sealed = True
        self._maybe_ack()

    def _maybe_ack(self) -> None:
        if self._sealed and self._pending == 0 and not self._failed:
            for event in self._events:
                event.ack()
            self._stats.acked_inputs += len(self._events)
            self._events = ()


class AckingProducer:
    """An app-owned confluent-kafka producer whose deliveries gate the acks of faust events.

    The at-least-once order of every app that uses it (STYLE.md practice 8):

    1. The agent takes a batch of input events without acking them (`stream.noack()`).
    2. It produces every output made from the batch here, attached to one `AckGroup`,
       and seals the group.
    3. librdkafka delivers the outputs (acks=all, idempotent); the delivery callbacks run
       on the event loop, from `poll(0)` after each batch and from a timer polling every
       5 ms while outputs are in flight (every 100 ms when none are).
    4. When the last output of a group is delivered, the group acks its input events.
    5. faust commits up to the first unacked offset of each partition, on its own timer,
       on rebalance and at shutdown; `stop()` flushes first so that shutdown commits
       everything that was delivered.

    A failed delivery (librdkafka gave up after its retries) leaves the group unacked and
    calls `on_fatal`: the app should then crash, so that the partition is replayed from
    the last committed offset by whichever worker owns it next.
    """

    def __init__(self, producer: Producer, *, on_fatal: Callable[[Exception], None] | None = None) -> None:
        self._producer = producer
        self._on_fatal = on_fatal
        self.stats = DeliveryStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle = False  # polling at the idle interval: the next produce() shortens it

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        bootstrap: str | None = None,
        *,
        on_fatal: Callable[[Exception], None] | None = None,
        **overrides: Any,
    ) -> AckingProducer:
        """Build one on `producer_config(settings, bootstrap, **overrides)`."""
        return cls(Producer(producer_config(settings, bootstrap, **overrides)), on_fatal=on_fatal)

    def group(self, events: Sequence[Ackable]) -> AckGroup:
        """A new group holding `events` until the outputs attached to it are delivered."""
        return AckGroup(events, self.stats)

    def produce(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: ProduceHeaders | None = None,
        group: AckGroup | None = None,
    ) -> None:
        """Queue one record; its delivery (or failure) is reported to `group`.

        Blocks the loop for up to 50 ms at a time while librdkafka's queue is full.

        Raises:
            KafkaException: librdkafka refused the record (e.g. `too_large`); nothing is
                attached to `group` then.
        """
        if group is None:
            callback = self._callback(None)
        else:
            if group.on_delivery is None:
                group.on_delivery = self._callback(group)
            callback = group.on_delivery
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=callback, **extra)
                break
            except BufferError:
                self._producer.poll(QUEUE_FULL_WAIT_S)
        if group is not None:  # (its callback runs from a later poll on this thread)
            group.attach()
        self.stats.produced += 1
        if self._idle:
            self._schedule_poll(POLL_INTERVAL_S)

    def poll(self) -> int:
        """Run the delivery callbacks that are due, without waiting."""
        return self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait up to `timeout` s for every queued record; returns how many are still queued."""
        return self._producer.flush(timeout)

    async def start(self) -> None:
        """Start serving delivery reports from the running loop (see POLL_INTERVAL_S)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._schedule_poll(POLL_INTERVAL_S)

    async def stop(self, timeout: float = 30.0) -> None:
        """Flush (deliveries ack their groups), then stop polling. Idempotent."""
        left = self.flush(timeout)
        if left:
            log.error("%d output records not delivered at shutdown; their inputs stay unacked", left)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop = None
        self._idle = False

    def _schedule_poll(self, delay: float) -> None:
        # A timer callback rather than a task sleeping between polls: one loop iteration per
        # poll instead of two, and no future per sleep.
        if self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._idle = delay > POLL_INTERVAL_S
        self._timer = self._loop.call_later(delay, self._poll_due)

    def _poll_due(self) -> None:
        try:
            self._producer.poll(0)
        finally:  # a raising callback must not end the polling
            self._schedule_poll(POLL_INTERVAL_S if len(self._producer) else IDLE_POLL_INTERVAL_S)

    def _callback(self, group: AckGroup | None) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                self.stats.delivered += 1
            else:
                self.stats.failed += 1
                log.error("delivery to %s failed: %s", msg.topic(), err)
                if self._on_fatal is not None:
                    self._on_fatal(InfrastructureError(f"delivery to {msg.topic()} failed: {err}"))
            if group is not None:
                group.delivered(err is None)

        return on_delivery
