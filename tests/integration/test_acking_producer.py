"""The acking producer and the dead-letter policy on the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest

from pipeline.adapters.kafka.acking_producer import AckingProducer
from pipeline.adapters.kafka.dlq import DeadLetters
from pipeline.errors import DecodeError, InfrastructureError
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient

pytestmark = pytest.mark.timeout(120)


class FakeEvent:
    def __init__(self) -> None:
        self.acks = 0

    def ack(self) -> bool:
        self.acks += 1
        return True


def test_inputs_are_acked_only_once_outputs_are_on_the_broker(
    obspipe_settings: Callable[..., Settings], kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    """Events are acked after the outputs made from them are delivered, and those outputs can be read back."""
    topic = new_topic("acked", partitions=2)
    producer = AckingProducer.from_settings(obspipe_settings())
    events = [FakeEvent() for _ in range(3)]
    group = producer.group(events)
    for i in range(10):
        producer.produce(topic, f"out-{i}".encode(), partition=i % 2, group=group)
    group.seal()
    assert all(e.acks == 0 for e in events)  # nothing delivered before a poll or flush
    assert producer.flush(30) == 0
    assert [e.acks for e in events] == [1, 1, 1]
    assert producer.stats.delivered == 10 and producer.stats.acked_inputs == 3
    records = kafka.consume_until(topic, lambda rs: len(rs) >= 10, timeout=60)
    assert sorted(r.value for r in records) == sorted(f"out-{i}".encode() for i in range(10))


def test_failed_delivery_leaves_inputs_unacked_and_reports_fatal(
    obspipe_settings: Callable[..., Settings], new_topic: Callable[..., str]
) -> None:
    """An output librdkafka cannot deliver (a partition that does not exist) keeps its inputs unacked
    and calls on_fatal."""
    topic = new_topic("onepart", partitions=1)
    fatal: list[Exception] = []
    producer = AckingProducer.from_settings(
        obspipe_settings(), on_fatal=fatal.append, message_timeout_ms=5000
    )
    event = FakeEvent()
    group = producer.group([event])
    producer.produce(topic, b"ok", partition=0, group=group)
    producer.produce(topic, b"nowhere", partition=5, group=group)
    group.seal()
    producer.flush(30)
    assert event.acks == 0
    assert producer.stats.failed == 1 and len(fatal) == 1
    assert isinstance(fatal[0], InfrastructureError) and topic in str(fatal[0])


def test_poll_task_delivers_without_explicit_flush(
    obspipe_settings: Callable[..., Settings], new_topic: Callable[..., str]
) -> None:
    """Once started, the producer's own poll task runs delivery callbacks (acks happen between batches)."""
    topic = new_topic("polled")
    producer = AckingProducer.from_settings(obspipe_settings())
    event = FakeEvent()

    async def scenario() -> None:
        await producer.start()
        group = producer.group([event])
        producer.produce(topic, b"x", group=group)
        group.seal()
        for _ in range(600):  # up to 30 s, polling the condition
            if event.acks:
                break
            await asyncio.sleep(0.05)
        await producer.stop()

    asyncio.run(scenario())
    assert event.acks == 1


def test_dead_letter_is_keyed_and_counted(
    obspipe_settings: Callable[..., Settings], kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    """A dead letter goes to the DLQ topic under the original key and is counted by reason."""
    dlq = new_topic("dlq")
    producer = AckingProducer.from_settings(obspipe_settings())
    letters = DeadLetters(producer, dlq, clock_ns=lambda: 0)
    letters.send(b"junk", b"k1", topic="in", partition=2, offset=9, error=DecodeError("not valid JSON"))
    letters.send(b"junk2", None, topic="in", partition=2, offset=10, error=KeyError("boom"))
    producer.flush(30)
    assert letters.counts == {"decode_error": 1, "unexpected_error": 1} and letters.total == 2
    records = kafka.consume_until(dlq, lambda rs: len(rs) >= 2, timeout=60)
    by_offset = {orjson.loads(r.value or b"")["source"]["offset"]: r for r in records}
    assert by_offset[9].key == b"k1"
    assert orjson.loads(by_offset[9].value or b"")["origin"] == "in[2]@9"
    assert orjson.loads(by_offset[10].value or b"")["error"] == "KeyError: 'boom'"
