"""The alert router's state in Redis (implements `pipeline.domain.alerting.store.AlertStateStore`).

Key layout (prefix `P`, default "obspipe"):

- `P:alerts:p{N}:groups`, `:nflog`, `:act`, `:outbox`: hashes per input partition N of the
  aggregation groups, notification-log entries, activation histories and undelivered outputs.
- `P:alerts:stats:{shift_id}`: hash partition -> that partition's figures for the shift.
- `P:alerts:shifts`: sorted set shift_id -> shift start (epoch s), for "the current shift".
- `P:alerts:silences`: hash silence id -> silence JSON.

A save is one MULTI/EXEC transaction, so a partition's groups, log and outbox move together.
Every call raises `redis.RedisError`/`OSError` when Redis is unreachable; the runtime keeps
routing on its in-memory state and saves again later (DESIGN.md §4, static stability).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from pipeline.domain.alerting.silences import Silence, silence_from_json
from pipeline.domain.alerting.store import Changes, Json, OutboxRecord, PartitionState


class RedisAlertState:
    """An `AlertStateStore` on a redis-py client."""

    def __init__(self, client: redis.Redis, prefix: str = "obspipe") -> None:
        self.client = client
        self.prefix = f"{prefix}:alerts"

    @classmethod
    def from_url(cls, url: str, prefix: str = "obspipe") -> RedisAlertState:
        """Connect lazily with short timeouts: an outage must fail fast, not stall the loop."""
        return cls(redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5), prefix)

    def _key(self, partition: int, what: str) -> str:
        return f"{self.prefix}:p{partition}:{what}"

    def load(self, partition: int) -> PartitionState:
        pipe = self.client.pipeline(transaction=False)
        for what in ("groups", "nflog", "act", "outbox"):
            pipe.hgetall(self._key(partition, what))
        groups, nflog, act, outbox = pipe.execute()
        state = PartitionState(
            groups={_s(k): orjson.loads(v) for k, v in groups.items()},
            nflog={_s(k): orjson.loads(v) for k, v in nflog.items()},
            activations={_s(k): orjson.loads(v) for k, v in act.items()},
        )
        for k, v in outbox.items():
            rec = orjson.loads(v)
            state.outbox[_s(k)] = OutboxRecord(_s(k), rec["topic"], rec["key"], rec["value"].encode())
        for shift_id in self.recent_shifts(16):
            raw = self.client.hget(f"{self.prefix}:stats:{shift_id}", str(partition))
            if raw is not None:
                state.stats[shift_id] = orjson.loads(raw)
        return state

    def save(self, partition: int, changes: Changes) -> None:
        pipe = self.client.pipeline(transaction=True)
        self._hash_changes(pipe, self._key(partition, "groups"), changes.groups)
        self._hash_changes(pipe, self._key(partition, "nflog"), changes.nflog)
        self._hash_changes(pipe, self._key(partition, "act"), changes.activations)
        outbox = {k: None if r is None else {"topic": r.topic, "key": r.key, "value": r.value.decode()}
                  for k, r in changes.outbox.items()}
        self._hash_changes(pipe, self._key(partition, "outbox"), outbox)
        for shift_id, value in changes.stats.items():
            pipe.hset(f"{self.prefix}:stats:{shift_id}", str(partition), orjson.dumps(value))
            pipe.zadd(f"{self.prefix}:shifts", {shift_id: float(value["shift"][2])})
        pipe.execute()

    @staticmethod
    def _hash_changes(pipe: Any, key: str, updates: dict[str, Any]) -> None:
        puts = {k: orjson.dumps(v) for k, v in updates.items() if v is not None}
        deletes = [k for k, v in updates.items() if v is None]
        if puts:
            pipe.hset(key, mapping=puts)
        if deletes:
            pipe.hdel(key, *deletes)

    def shift_stats(self, shift_id: str) -> dict[int, Json]:
        raw = self.client.hgetall(f"{self.prefix}:stats:{shift_id}")
        return {int(_s(p)): orjson.loads(v) for p, v in raw.items()}

    def recent_shifts(self, limit: int) -> list[str]:
        members: list[bytes] = self.client.zrevrange(f"{self.prefix}:shifts", 0, limit - 1)  # type: ignore[assignment]
        return [_s(s) for s in members]

    def silences(self) -> list[Silence]:
        raw = self.client.hgetall(f"{self.prefix}:silences")
        return [silence_from_json(orjson.loads(v)) for v in raw.values()]

    def put_silence(self, silence: Silence) -> None:
        self.client.hset(f"{self.prefix}:silences", silence.id, orjson.dumps(silence.to_json()))


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
