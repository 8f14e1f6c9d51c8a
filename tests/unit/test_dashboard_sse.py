"""Server-Sent Events encoding and the bounded fan-out to browsers."""

from __future__ import annotations

import asyncio

import orjson

from pipeline.dashboard.sse import QUEUE_LIMIT, SseHub, encode_event


def test_event_is_one_event_line_and_one_data_line() -> None:
    """An event is `event: name`, one `data:` line of JSON, and a blank line, per the SSE format."""
    chunk = encode_event("page", {"reason": "line one\nline two"})
    assert chunk == b'event: page\ndata: {"reason":"line one\\nline two"}\n\n'
    assert orjson.loads(chunk.split(b"data: ")[1]) == {"reason": "line one\nline two"}


def test_every_subscriber_gets_every_event_in_order() -> None:
    """Two subscribers each receive all published events in publication order."""

    async def scenario() -> None:
        hub = SseHub()
        a, b = hub.subscribe(), hub.subscribe()
        hub.publish([("page", 1), ("slos", 2)])
        expected = [encode_event("page", 1), encode_event("slos", 2)]
        for queue in (a, b):
            assert [queue.get_nowait(), queue.get_nowait()] == expected

    asyncio.run(scenario())


def test_a_subscriber_too_far_behind_is_dropped_with_an_end_marker() -> None:
    """Past QUEUE_LIMIT unread events a subscriber is dropped: its queue holds only the end marker."""

    async def scenario() -> None:
        hub = SseHub()
        slow, fast = hub.subscribe(), hub.subscribe()
        for i in range(QUEUE_LIMIT):
            hub.publish([("page", i)])
            fast.get_nowait()
        assert hub.subscribers == 2 and slow.qsize() == QUEUE_LIMIT
        hub.publish([("page", "one too many")])
        assert hub.subscribers == 1
        assert slow.qsize() == 1 and slow.get_nowait() is None
        assert fast.get_nowait() == encode_event("page", "one too many")

    asyncio.run(scenario())


def test_close_ends_every_stream() -> None:
    """Closing the hub (at shutdown) leaves each subscriber an end marker and no subscribers."""

    async def scenario() -> None:
        hub = SseHub()
        queues = [hub.subscribe() for _ in range(3)]
        hub.publish([("dlq", {})])
        hub.close()
        assert hub.subscribers == 0
        assert [q.get_nowait() for q in queues] == [None, None, None]

    asyncio.run(scenario())
