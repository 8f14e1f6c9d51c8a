"""The slo-burn app's state in Redis: buckets, contributions, counter samples, alert state, status.

Why Redis and not a faust table: the state must survive a restart and a kill -9 (the budget
already spent over a 30-day period cannot be rebuilt from a topic whose retention may be
shorter), and the embedded broker cannot restore a faust table exactly (DESIGN.md §5, §6).

Key layout (prefix `P`, default "obspipe"):

- `P:slo:{name}:good`, `P:slo:{name}:total`: hashes minute -> events (the buckets).
- `P:slo:{name}:c:{minute}`: hash source -> "good total" (one contribution per source), with a
  TTL of the period plus 3 days, so old minutes clean themselves up.
- `P:slo:{name}:state`: JSON of the evaluator's alert state.
- `P:slo:status`: hash name -> JSON of the latest slo.status record (`obspipe slo status`).
- `P:slo:series`: hash series id -> "time value" of the newest cumulative counter sample.
- `P:slo:watermarks`: hash input partition -> "newest-minute report-time" (shared event time).

A contribution is applied by a Lua script, atomically: it replaces the source's previous
contribution only when the new total is larger, and adds the difference to the buckets
(`pipeline.domain.slo.store.replace_contribution` is the same rule, in Python).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from pipeline.domain.slo.store import BucketDelta, Contribution

# KEYS: contributions hash, good hash, total hash; ARGV: source, good, total, minute, ttl.
# Returns {delta good, delta total}; {0, 0} when the stored contribution is kept.
_APPLY = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local og, ot = 0, 0
if old then
  local sp = string.find(old, ' ')
  og = tonumber(string.sub(old, 1, sp - 1))
  ot = tonumber(string.sub(old, sp + 1))
  if tonumber(ARGV[3]) <= ot then return {0, 0} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
local dg = tonumber(ARGV[2]) - og
local dt = tonumber(ARGV[3]) - ot
redis.call('HINCRBY', KEYS[2], ARGV[4], dg)
redis.call('HINCRBY', KEYS[3], ARGV[4], dt)
return {dg, dt}
"""

# KEYS: watermarks hash; ARGV: source, minute, now. Raises the source's watermark (never lowers
# it) and stamps the report time: "minute now".
_RAISE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local minute = tonumber(ARGV[2])
if old then
  local cur = tonumber(string.sub(old, 1, string.find(old, ' ') - 1))
  if cur > minute then minute = cur end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', minute) .. ' ' .. ARGV[3])
return 0
"""

DEFAULT_TTL_S = (30 + 3) * 86_400


class RedisSloStore:
    """An `SloStore` on Redis (see the module docstring for the layout)."""

    def __init__(self, client: redis.Redis, *, prefix: str = "obspipe", ttl_s: int = DEFAULT_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._apply = client.register_script(_APPLY)
        self._raise = client.register_script(_RAISE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisSloStore:
        client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
        return cls(client, **kwargs)

    def _key(self, slo: str, part: str) -> str:
        return f"{self.prefix}:slo:{slo}:{part}"

    def apply(self, contributions: list[Contribution]) -> list[BucketDelta]:
        if not contributions:
            return []
        pipe = self.client.pipeline(transaction=False)
        for c in contributions:
            keys = [self._key(c.slo, f"c:{c.minute}"), self._key(c.slo, "good"), self._key(c.slo, "total")]
            self._apply(keys=keys, args=[c.source, c.good, c.total, c.minute, self.ttl_s], client=pipe)
        results = pipe.execute()
        out = []
        for c, (dg, dt) in zip(contributions, results, strict=True):
            if dg or dt:
                out.append(BucketDelta(c.slo, c.minute, int(dg), int(dt)))
        return out

    def buckets(self, slo: str, since_minute: int) -> dict[int, tuple[int, int]]:
        good = self.client.hgetall(self._key(slo, "good"))
        total = self.client.hgetall(self._key(slo, "total"))
        out = {}
        for raw_minute, raw_total in total.items():
            minute = int(raw_minute)
            if minute >= since_minute:
                out[minute] = (int(good.get(raw_minute, 0)), int(raw_total))
        return out

    def bucket_values(self, slo: str, minutes: list[int]) -> dict[int, tuple[int, int]]:
        if not minutes:
            return {}
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(self._key(slo, "good"), minutes)
        pipe.hmget(self._key(slo, "total"), minutes)
        goods, totals = pipe.execute()
        return {
            m: (int(g or 0), int(t))
            for m, g, t in zip(minutes, goods, totals, strict=True)
            if t is not None
        }

    def report_watermarks(self, minutes: dict[str, int], now_s: float) -> None:
        if not minutes:
            return
        pipe = self.client.pipeline(transaction=False)
        key = f"{self.prefix}:slo:watermarks"
        for source, minute in minutes.items():
            self._raise(keys=[key], args=[source, minute, repr(now_s)], client=pipe)
        pipe.execute()

    def watermarks(self) -> dict[str, tuple[int, float]]:
        out = {}
        for key, value in self.client.hgetall(f"{self.prefix}:slo:watermarks").items():
            minute, stamp = _text(value).split(" ")
            out[_text(key)] = (int(minute), float(stamp))
        return out

    def prune(self, slo: str, before_minute: int) -> int:
        """Drop buckets older than `before_minute` (their contributions expire by TTL)."""
        old = [m for m in self.client.hkeys(self._key(slo, "total")) if int(m) < before_minute]
        if old:
            self.client.hdel(self._key(slo, "good"), *old)
            self.client.hdel(self._key(slo, "total"), *old)
        return len(old)

    def last_samples(self, series: list[str]) -> dict[str, tuple[int, float]]:
        if not series:
            return {}
        values = self.client.hmget(f"{self.prefix}:slo:series", series)
        out = {}
        for name, raw in zip(series, values, strict=True):
            if raw is not None:
                time, value = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(" ")
                out[name] = (int(time), float(value))
        return out

    def set_last_samples(self, samples: dict[str, tuple[int, float]]) -> None:
        if samples:
            items = [x for name, (time, value) in samples.items() for x in (name, f"{time} {value!r}")]
            self.client.hset(f"{self.prefix}:slo:series", items=items)

    def save_state(self, slo: str, state: dict[str, Any], status: dict[str, Any]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self._key(slo, "state"), orjson.dumps(state))
        pipe.hset(f"{self.prefix}:slo:status", slo, orjson.dumps(status))
        pipe.execute()

    def load_state(self, slo: str) -> dict[str, Any] | None:
        raw = self.client.get(self._key(slo, "state"))
        return None if raw is None else orjson.loads(raw)

    def statuses(self) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(f"{self.prefix}:slo:status")
        return {_text(name): orjson.loads(value) for name, value in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
