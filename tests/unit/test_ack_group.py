"""AckGroup: inputs are acked once, only after every attached output is delivered."""

from __future__ import annotations

import asyncio

from pipeline.adapters.kafka.acking_producer import (
    IDLE_POLL_INTERVAL_S,
    POLL_INTERVAL_S,
    AckGroup,
    AckingProducer,
    DeliveryStats,
)
from pipeline.testing.queued_producer import QueuedProducer


class FakeEvent:
    def __init__(self) -> None:
        self.acks = 0

    def ack(self) -> bool:
        self.acks += 1
        return True


def test_acks_after_seal_and_last_delivery_only() -> None:
    """Events stay unacked while outputs are pending or the group is open, then are acked exactly once."""
    events = [FakeEvent(), FakeEvent()]
    stats = DeliveryStats()
    group = AckGroup(events, stats)
    group.attach()
    group.attach()
    group.delivered(True)  # one output delivered before the group is sealed
    assert [e.acks for e in events] == [0, 0]
    group.seal()
    assert [e.acks for e in events] == [0, 0] and not group.done
    group.delivered(True)
    assert [e.acks for e in events] == [1, 1] and group.done
    assert stats.acked_inputs == 2


def test_group_without_outputs_acks_on_seal() -> None:
    """A batch whose records produced nothing (e.g. empty span arrays) is acked when sealed."""
    event = FakeEvent()
    group = AckGroup([event], DeliveryStats())
    group.seal()
    assert event.acks == 1


def test_failed_delivery_keeps_inputs_unacked() -> None:
    """If any output of a group fails, none of its inputs is acked (they are replayed after a restart)."""
    events = [FakeEvent()]
    stats = DeliveryStats()
    group = AckGroup(events, stats)
    group.attach()
    group.attach()
    group.seal()
    group.delivered(False)
    group.delivered(True)
    assert events[0].acks == 0 and stats.acked_inputs == 0


def test_polling_slows_down_when_idle_and_a_produce_brings_the_fast_interval_back() -> None:
    """With nothing in flight the producer polls at the idle interval; the next produce() makes the
    next poll due within POLL_INTERVAL_S again, and that poll acks the group."""
    kafka = QueuedProducer()
    producer = AckingProducer(kafka)  # type: ignore[arg-type]
    event = FakeEvent()
    seen: dict[str, float] = {}

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        await producer.start()
        while kafka.polls < 2:  # the first poll finds nothing in flight
            await asyncio.sleep(POLL_INTERVAL_S)
        timer = producer._timer
        assert timer is not None
        seen["idle_due_in"] = timer.when() - loop.time()
        group = producer.group([event])
        producer.produce("out", b"x", group=group)
        group.seal()
        timer = producer._timer
        assert timer is not None
        seen["busy_due_in"] = timer.when() - loop.time()
        while not event.acks:
            await asyncio.sleep(POLL_INTERVAL_S)
        await producer.stop()

    asyncio.run(scenario())
    assert POLL_INTERVAL_S < seen["idle_due_in"] <= IDLE_POLL_INTERVAL_S
    assert seen["busy_due_in"] <= POLL_INTERVAL_S
    assert event.acks == 1 and producer.stats.delivered == 1
