"""A small confluent-kafka client for tests: create topics, produce, consume until a condition.

"Done" is always a condition on the records seen, polled until a deadline; never the high
watermark or the consumer lag: the embedded broker's watermark is one batch short.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

Headers = list[tuple[str, bytes]]
# What confluent-kafka's stubs accept for headers (they are invariant in the value type).
ProduceHeaders = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, detached from librdkafka's Message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


class KafkaTestClient:
    """Producer, admin and consumers on one bootstrap, for tests; `close()` when done."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                {"bootstrap.servers": self.bootstrap, "linger.ms": 5, "enable.idempotence": True}
            )
        return self._producer

    def create_topic(
        self, name: str, partitions: int = 1, config: dict[str, str] | None = None, timeout: float = 30
    ) -> str:
        """Create `name` and wait until its metadata shows every partition; returns the name."""
        futures = self.admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        futures[name].result(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topic = self.admin.list_topics(name, timeout=5).topics.get(name)
            if topic is not None and topic.error is None and len(topic.partitions) == partitions:
                return name
            time.sleep(0.05)
        raise AssertionError(f"topic {name} has not got {partitions} partitions after {timeout}s")

    def produce(
        self,
        topic: str,
        values: Iterable[bytes],
        *,
        key: bytes | None = None,
        headers: ProduceHeaders | None = None,
        partition: int | None = None,
        timeout: float = 30,
    ) -> int:
        """Produce every value and wait until all are delivered; returns how many were sent.

        Raises:
            AssertionError: a delivery failed or did not complete within `timeout`.
        """
        errors: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        count = 0
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        for value in values:
            self.producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery, **extra)
            self.producer.poll(0)
            count += 1
        left = self.producer.flush(timeout)
        assert left == 0, f"{left} records to {topic} not delivered within {timeout}s"
        assert not errors, f"delivery to {topic} failed: {errors[0]}"
        return count

    def partitions(self, topic: str) -> list[int]:
        metadata = self.admin.list_topics(topic, timeout=10).topics[topic]
        return sorted(metadata.partitions)

    def consume_until(
        self,
        topics: str | Sequence[str],
        predicate: Callable[[list[Record]], bool],
        *,
        timeout: float = 60,
        settle: float = 0.0,
    ) -> list[Record]:
        """Read `topics` from the beginning until `predicate(records so far)` holds.

        Partitions are assigned directly (no consumer group), so no group join delays the start.

        Args:
            topics: one topic or several.
            predicate: called with every record seen so far after each poll.
            timeout: seconds before giving up.
            settle: once the predicate holds, keep reading this long (to catch extra records,
                e.g. duplicates that must not be there) and return everything seen.

        Raises:
            AssertionError: the predicate did not hold within `timeout`; the message counts records.
        """
        names = [topics] if isinstance(topics, str) else list(topics)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"test-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 500,
                "fetch.queue.backoff.ms": 20,
            }
        )
        try:
            consumer.assign(
                [TopicPartition(t, p, OFFSET_BEGINNING) for t in names for p in self.partitions(t)]
            )
            records: list[Record] = []
            deadline = time.monotonic() + timeout
            settle_until: float | None = None
            while time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=1000, timeout=0.2):
                    error = msg.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise AssertionError(f"consume error on {names}: {error}")
                    records.append(_record(msg))
                if settle_until is None and predicate(records):
                    settle_until = time.monotonic() + settle
                if settle_until is not None and time.monotonic() >= settle_until:
                    return records
            raise AssertionError(f"condition on {names} not met within {timeout}s ({len(records)} records)")
        finally:
            consumer.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
        self._producer = None
        self._admin = None


def _record(msg: Any) -> Record:
    return Record(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        key=msg.key(),
        value=msg.value(),
        headers=list(msg.headers() or []),
    )


def unique_name(prefix: str) -> str:
    """A topic or group name no other test (or engineer's test run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
