"""How order events travel from checkout to fulfillment: Kafka, or an in-memory queue for unit tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.adapters.otel.propagation import Headers
from pipeline.settings import Settings


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message as a consumer sees it (the attributes aiokafka's ConsumerRecord has)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes | str | None]]


class OrderTransport(Protocol):
    """Sends order events and hands them to the batch worker."""

    topic: str

    def send(self, key: bytes, value: bytes, headers: Headers) -> None: ...

    def flush(self, timeout_s: float) -> None: ...

    def receive(self, count: int, timeout_s: float) -> list[Any]:
        """Up to `count` messages, waiting at most `timeout_s` for them."""
        ...

    def close(self) -> None: ...


class InMemoryOrderQueue:
    """An in-process `OrderTransport`: one partition, offsets from 0."""

    def __init__(self, topic: str = "orders") -> None:
        self.topic = topic
        self._lock = threading.Lock()
        self._messages: list[QueuedMessage] = []
        self._read = 0

    def send(self, key: bytes, value: bytes, headers: Headers) -> None:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        with self._lock:
            self._messages.append(QueuedMessage(self.topic, 0, len(self._messages), key, value, pairs))

    def flush(self, timeout_s: float) -> None:
        """Nothing to flush: send is synchronous."""

    def receive(self, count: int, timeout_s: float) -> list[Any]:
        with self._lock:
            batch = self._messages[self._read : self._read + count]
            self._read += len(batch)
        return list(batch)

    def close(self) -> None:
        """Nothing to release."""


class KafkaOrderTransport:
    """Order events through Kafka with confluent-kafka: one producer, one consumer in a group."""

    def __init__(self, producer: Any, consumer: Any, topic: str) -> None:
        self.topic = topic
        self._producer = producer
        self._consumer = consumer

    def send(self, key: bytes, value: bytes, headers: Headers) -> None:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        self._producer.produce(self.topic, value, key, headers=pairs)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        self._producer.flush(timeout_s)

    def receive(self, count: int, timeout_s: float) -> list[Any]:
        """Polls until `count` messages arrived or `timeout_s` passed (never trusts watermarks)."""
        deadline = time.monotonic() + timeout_s
        out: list[Any] = []
        while len(out) < count and time.monotonic() < deadline:
            for message in self._consumer.consume(count - len(out), timeout=0.5):
                if message.error() is None:
                    out.append(message)
        return out

    def close(self) -> None:
        self._producer.flush(5.0)
        self._consumer.close()


def build_kafka_order_transport(
    settings: Settings, topic: str, group_id: str, bootstrap: str | None = None
) -> KafkaOrderTransport:
    """A `KafkaOrderTransport` for `topic`, its consumer subscribed in `group_id` from the earliest offset."""
    from confluent_kafka import Consumer, Producer

    from pipeline.adapters.kafka.config import consumer_config, producer_config

    consumer = Consumer(consumer_config(settings, group_id, bootstrap))
    consumer.subscribe([topic])
    return KafkaOrderTransport(Producer(producer_config(settings, bootstrap)), consumer, topic)
