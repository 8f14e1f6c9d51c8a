"""AckGroup: inputs are acked once, only after every attached output is delivered."""

from __future__ import annotations

from pipeline.adapters.kafka.acking_producer import AckGroup, DeliveryStats


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
