"""The default bad-record policy (STYLE.md practice 9): dead-letter topic, reason, origin, count."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

import orjson
from confluent_kafka import KafkaException

from pipeline.adapters.kafka.acking_producer import AckGroup, AckingProducer, too_large
from pipeline.domain.dead_letter import dead_letter, origin
from pipeline.errors import RecordError

log = logging.getLogger(__name__)


class DeadLetters:
    """Sends rejected records to the dead-letter topic, keyed by their original key, and counts them.

    `counts` (reason -> records) and `total` are what the apps expose as metrics.
    """

    def __init__(
        self, producer: AckingProducer, topic: str, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._clock_ns = clock_ns
        self.counts: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def send(
        self,
        value: bytes | None,
        key: bytes | None,
        *,
        topic: str,
        partition: int,
        offset: int,
        error: Exception,
        group: AckGroup | None = None,
    ) -> None:
        """Produce the dead letter of one record; its delivery is attached to `group`.

        A `RecordError` gives its own `reason`; any other exception is counted as
        `unexpected_error`, so a bug in a decoder drops nothing silently either.
        """
        reason = error.reason if isinstance(error, RecordError) else "unexpected_error"
        message = str(error) if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"
        record = dead_letter(
            value,
            topic=topic,
            partition=partition,
            offset=offset,
            error=message,
            reason=reason,
            received_at_ns=self._clock_ns(),
        )
        try:
            self._producer.produce(self.topic, orjson.dumps(record), key=key, group=group)
        except KafkaException as exc:
            if value is None or not too_large(exc):
                raise
            # In base64 the value is a third larger: a record near the size limit cannot travel
            # in its dead letter. Send the rest; the origin says where its bytes are.
            record["value_b64"] = None
            record["error"] = message = (
                f"{message} (the {len(value)}-byte value is left out: its dead letter would exceed"
                " message.max.bytes; read it at the origin)"
            )
            self._producer.produce(self.topic, orjson.dumps(record), key=key, group=group)
        self.counts[reason] += 1
        log.warning("dead letter %s: %s (%s)", origin(topic, partition, offset), message, reason)
