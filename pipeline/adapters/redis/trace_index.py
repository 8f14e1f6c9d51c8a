"""The Redis trace index, written off the data plane's critical path (DESIGN.md §4).

Key layout (prefix `P`, default "obspipe"):

- `P:trace:{trace_id}`: hash {rev, json}: the highest revision's assembled record; TTL.
- `P:recent:{service}`, `P:errors:{service}`: sorted sets trace_id -> start time (ms),
  trimmed to the newest `recent_max`.
- `P:services`: sorted set service -> last time seen (ms).
- `P:links-in:{trace_id}`: set of JSON entries {trace_id, span_id, linked_span_id} of spans in
  other traces that link to this one (the reverse-link index); TTL.

`put()` and `put_many()` append to a bounded in-memory buffer and return. A background thread
writes batches with one pipelined round trip; when Redis is unreachable it keeps the batch,
backs off (0.05 s doubling to 2 s) and retries; when the buffer is full the oldest write is dropped and
counted (`stats.overflow`). The data plane (assembly, Kafka output, acks) never waits on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis

from pipeline.adapters.lifecycle import name_os_thread
from pipeline.domain.trace_index import AssembledTrace, IndexStats, IndexWrite, TraceSummary, index_write

log = logging.getLogger(__name__)

# Stores each record unless a higher revision is already there (writes can be retried out of
# order); many traces per call, since redis-py's cost is per command (packing and reply
# parsing), not per byte. KEYS = trace hashes; ARGV = ttl seconds, then revision, json per key.
# Returns how many records were stale. (Several keys per script: not for Redis Cluster.)
_PUT_TRACES = """
local ttl = ARGV[1]
local stale = 0
for i, key in ipairs(KEYS) do
  local rev = ARGV[2 * i]
  local cur = tonumber(redis.call('HGET', key, 'rev') or '0')
  if cur > tonumber(rev) then
    stale = stale + 1
  else
    redis.call('HSET', key, 'rev', rev, 'json', ARGV[2 * i + 1])
    redis.call('EXPIRE', key, ttl)
  end
end
return stale
"""

_BATCH = 500  # traces per pipelined round trip
# Traces per script call (~200 KB of 10-span records): measured here, one call of 500 made the
# kernel's socket copies cost 4x more (sys time) than calls of 10-100 traces.
_TRACES_PER_CALL = 25


_LINGER_S = 0.02
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0


class RedisTraceIndex:
    """A `TraceIndex` on Redis; `start()` launches the writer thread (see module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "obspipe",
        ttl_s: int = 86_400,
        recent_max: int = 1_000,
        buffer_max: int = 20_000,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.recent_max = recent_max
        self.buffer_max = buffer_max
        self.stats = IndexStats()
        self._buffer: deque[IndexWrite] = deque()
        self._cond = threading.Condition()
        self._inflight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sha: str | None = None  # of _PUT_TRACES, loaded by the writer (again after any failure)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisTraceIndex:
        """Connect lazily to `url` with short socket timeouts (an outage must not stall reads)."""
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
        return cls(client, **kwargs)

    def start(self) -> RedisTraceIndex:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trace-index-writer", daemon=True)
            self._thread.start()
        return self

    # ---- writes -------------------------------------------------------------------------
    def put(self, trace: AssembledTrace, encoded: bytes | None = None) -> None:
        self.put_many([index_write(trace, encoded)])

    def put_many(self, writes: Sequence[IndexWrite]) -> None:
        if self._closed:
            self.stats.rejected += len(writes)
            return
        with self._cond:  # one lock round per call: the assembler puts a whole release at once
            buffer = self._buffer
            was_empty = not buffer
            buffer.extend(writes)
            over = len(buffer) - self.buffer_max
            if over > 0:  # drop the oldest
                for _ in range(over):
                    buffer.popleft()
                self.stats.overflow += over
            if was_empty or len(buffer) >= _BATCH:
                self._cond.notify()

    def _run(self) -> None:
        name_os_thread("trace-index")
        backoff = _BACKOFF_MIN_S
        while True:
            with self._cond:
                while not self._buffer and not self._closed:
                    self._cond.wait()
                if not self._buffer and self._closed:
                    return
                if len(self._buffer) < _BATCH and not self._closed:
                    # Linger so a burst becomes one round trip: fewer wake-ups, less GIL
                    # contention with the event loop that produces the traces.
                    self._cond.wait(_LINGER_S)
                batch = [self._buffer.popleft() for _ in range(min(_BATCH, len(self._buffer)))]
                self._inflight = len(batch)
            try:
                self._write(batch)
            except (redis.RedisError, OSError) as exc:  # incl. NOSCRIPT after a Redis restart
                with self._cond:
                    self.stats.retries += 1
                    # Back to the front, within the bound; what does not fit is the oldest.
                    room = self.buffer_max - len(self._buffer)
                    keep = batch[-room:] if room > 0 else []
                    self.stats.overflow += len(batch) - len(keep)
                    self._buffer.extendleft(reversed(keep))
                    self._inflight = 0
                    self._sha = None  # Redis may have restarted with an empty script cache
                    closed = self._closed
                if closed:
                    return
                log.warning("trace index write failed (%s); retrying in %.2fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            backoff = _BACKOFF_MIN_S
            with self._cond:
                self._inflight = 0
                self._cond.notify_all()

    def _write(self, batch: list[IndexWrite]) -> None:
        """One pipelined round trip: script calls storing `_TRACES_PER_CALL` traces each, then
        the secondary indexes grouped per key (one ZADD per service, not per trace: the Python
        cost is per command)."""
        p = self.prefix
        if self._sha is None:
            self._sha = str(self.client.script_load(_PUT_TRACES))
        pipe = self.client.pipeline(transaction=False)
        recent: dict[str, dict[str, int]] = {}
        links_in: dict[str, set[bytes]] = {}
        services: set[str] = set()
        keys: list[str] = []
        args: list[Any] = []  # revision, payload per trace
        for e in batch:
            keys.append(f"{p}:trace:{e.trace_id}")
            args.append(e.revision)
            args.append(e.payload)
            start_ms = e.start_ns // 1_000_000
            for service in e.services:
                services.add(service)
                recent.setdefault(f"{p}:recent:{service}", {})[e.trace_id] = start_ms
                if e.has_errors:
                    recent.setdefault(f"{p}:errors:{service}", {})[e.trace_id] = start_ms
            for target, link in e.links:
                links_in.setdefault(f"{p}:links-in:{target}", set()).add(
                    orjson.dumps(link, option=orjson.OPT_SORT_KEYS)
                )
        calls = range(0, len(keys), _TRACES_PER_CALL)
        for i in calls:
            chunk = keys[i : i + _TRACES_PER_CALL]
            pipe.evalsha(self._sha, len(chunk), *chunk, self.ttl_s, *args[2 * i : 2 * (i + len(chunk))])
        for key, members in recent.items():
            pipe.zadd(key, members)
            pipe.zremrangebyrank(key, 0, -self.recent_max - 1)
        if services:
            now_ms = int(time.time() * 1000)
            pipe.zadd(f"{p}:services", dict.fromkeys(services, now_ms))
        for key, link_members in links_in.items():
            pipe.sadd(key, *link_members)
            pipe.expire(key, self.ttl_s)
        results = pipe.execute()
        stale = sum(int(r) for r in results[: len(calls)])
        self.stats.stale += stale
        self.stats.written += len(batch) - stale

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._buffer or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def shutdown(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # ---- reads --------------------------------------------------------------------------
    def get(self, trace_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(f"{self.prefix}:trace:{trace_id}", "json")
        return None if raw is None else dict(orjson.loads(raw))

    def get_many(self, trace_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(trace_ids)
        if not ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for trace_id in ids:
            pipe.hget(f"{self.prefix}:trace:{trace_id}", "json")
        return {
            t: dict(orjson.loads(raw)) for t, raw in zip(ids, pipe.execute(), strict=True) if raw is not None
        }

    def recent(self, service: str, limit: int = 20, *, errors_only: bool = False) -> list[TraceSummary]:
        key = f"{self.prefix}:{'errors' if errors_only else 'recent'}:{service}"
        rows: Any = self.client.zrevrange(key, 0, limit - 1, withscores=True)
        return [TraceSummary(_text(t), service, int(score) * 1_000_000) for t, score in rows]

    def services(self) -> list[str]:
        names: Any = self.client.zrange(f"{self.prefix}:services", 0, -1)
        return sorted(_text(s) for s in names)

    def links_to(self, trace_id: str) -> list[dict[str, str]]:
        entries = [orjson.loads(raw) for raw in self.client.smembers(f"{self.prefix}:links-in:{trace_id}")]
        return sorted(entries, key=lambda e: (e["trace_id"], e["span_id"], e["linked_span_id"]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
