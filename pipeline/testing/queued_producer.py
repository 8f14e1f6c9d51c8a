"""A stand-in for confluent-kafka's Producer in unit tests of the acking logic (no broker):
records wait until `poll` delivers them, and values over `max_bytes` are refused at once with
MSG_SIZE_TOO_LARGE, as librdkafka refuses records over `message.max.bytes`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException


class QueuedProducer:
    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.sent: list[bytes] = []
        self.polls = 0
        self._callbacks: list[Callable[[Any, Any], None]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kw: Any) -> None:
        if self.max_bytes is not None and len(value) > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.sent.append(value)
        self._callbacks.append(kw["on_delivery"])

    def poll(self, timeout: float = 0) -> int:
        """Deliver everything queued (callbacks with no error)."""
        self.polls += 1
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(None, None)
        return len(callbacks)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self._callbacks)
