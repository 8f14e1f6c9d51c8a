"""The Redis trace index's write buffer, without a writer thread (no I/O: the client never connects)."""

from __future__ import annotations

import redis

from pipeline.adapters.redis.trace_index import RedisTraceIndex
from pipeline.domain.trace_index import index_write
from pipeline.testing.assembled import sample_trace


def test_put_many_keeps_the_newest_writes_within_the_bound_and_counts_the_dropped() -> None:
    """Five writes queued at once into a buffer of three: the two oldest are dropped and counted."""
    index = RedisTraceIndex(redis.Redis(port=1), buffer_max=3)  # not started: nothing is written
    ids = [f"{i:032x}" for i in range(1, 6)]
    index.put_many([index_write(sample_trace(t, 1_000)) for t in ids])
    assert index.stats.overflow == 2
    assert [w.trace_id for w in index._buffer] == ids[2:]
    index.put(sample_trace(ids[0], 2_000, revision=2))
    assert index.stats.overflow == 3
    assert [(w.trace_id, w.revision) for w in index._buffer] == [(ids[3], 1), (ids[4], 1), (ids[0], 2)]
