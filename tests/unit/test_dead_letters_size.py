"""Records that librdkafka refuses for their size: nothing is attached to the ack group, and a
dead letter too large to carry its value goes out without it instead of crashing the worker."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException

from pipeline.adapters.kafka.acking_producer import AckingProducer, produce_in_halves
from pipeline.adapters.kafka.dlq import DeadLetters
from pipeline.errors import DecodeError
from pipeline.testing.queued_producer import QueuedProducer


class _Event:
    def __init__(self) -> None:
        self.acks = 0

    def ack(self) -> None:
        self.acks += 1


def test_a_refused_record_is_not_attached_to_the_group() -> None:
    """The group of a batch whose only output was refused still acks once sealed (nothing pending)."""
    producer = AckingProducer(QueuedProducer(max_bytes=10))  # type: ignore[arg-type]
    event = _Event()
    group = producer.group([event])
    with pytest.raises(KafkaException):
        producer.produce("out", b"x" * 11, group=group)
    group.seal()
    assert event.acks == 1 and producer.stats.produced == 0


def test_dead_letter_of_a_large_record_goes_out_without_its_value() -> None:
    """A value whose base64 would not fit: the dead letter keeps reason, origin and error, says
    the value was left out, and its delivery acks the input."""
    kafka = QueuedProducer(max_bytes=1_200)
    producer = AckingProducer(kafka)  # type: ignore[arg-type]
    letters = DeadLetters(producer, "dlq", clock_ns=lambda: 0)
    event = _Event()
    group = producer.group([event])
    bad = DecodeError("bad")
    for value, offset in ((b"\x00" * 1_000, 7), (b"\x00" * 10, 8)):
        letters.send(value, None, topic="in", partition=2, offset=offset, error=bad, group=group)
    group.seal()
    kafka.poll()
    big, fits = (orjson.loads(v) for v in kafka.sent)
    assert big["value_b64"] is None and big["origin"] == "in[2]@7" and big["reason"] == "decode_error"
    assert big["error"].startswith("bad (the 1000-byte value is left out")
    assert fits["value_b64"] == "AAAAAAAAAAAAAA==" and fits["error"] == "bad"
    assert letters.counts["decode_error"] == 2 and event.acks == 1


def test_produce_in_halves_splits_until_records_fit_and_returns_what_never_fits() -> None:
    """Items of 10 bytes against a 35-byte limit: records of at most 3 items, in order, and the
    one 50-byte item comes back for the caller."""
    kafka = QueuedProducer(max_bytes=35)
    items = [b"a" * 10] * 5 + [b"b" * 50] + [b"c" * 10] * 3

    def produce(chunk: Sequence[bytes]) -> None:
        kafka.produce("out", b"".join(chunk), on_delivery=lambda *_: None)

    assert produce_in_halves(items, produce) == [b"b" * 50]
    assert b"".join(kafka.sent) == b"".join(i for i in items if len(i) == 10)
    assert all(len(v) <= 35 for v in kafka.sent)

    def broker_down(chunk: Sequence[bytes]) -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    with pytest.raises(KafkaException):  # any other refusal is not swallowed
        produce_in_halves([b"x"], broker_down)
