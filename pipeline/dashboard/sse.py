"""Server-Sent Events fan-out with a bound per subscriber.

Each browser gets a queue of encoded events. A browser that falls `QUEUE_LIMIT` events behind
is dropped rather than buffered without end: its EventSource reconnects by itself and starts
again from a fresh snapshot, which is both cheaper and more correct than a long backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson

QUEUE_LIMIT = 256

Chunk = bytes | None  # None tells the stream handler to end


def encode_event(name: str, data: Any) -> bytes:
    """One SSE message (`event:` + one `data:` line; orjson output holds no newline)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class SseHub:
    """Subscribers' queues; `publish` encodes each event once for all of them."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Chunk]] = set()

    def subscribe(self) -> asyncio.Queue[Chunk]:
        queue: asyncio.Queue[Chunk] = asyncio.Queue(maxsize=QUEUE_LIMIT + 1)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Chunk]) -> None:
        self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, events: Iterable[tuple[str, Any]]) -> None:
        chunks = [encode_event(name, data) for name, data in events]
        for queue in list(self._queues):
            for chunk in chunks:
                if queue.qsize() >= QUEUE_LIMIT:
                    self._drop(queue)
                    break
                queue.put_nowait(chunk)

    def close(self) -> None:
        """End every stream (at shutdown)."""
        for queue in list(self._queues):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[Chunk]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
