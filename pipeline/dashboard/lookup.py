"""Opening traces the dashboard no longer holds in memory: the Redis trace index.

The index is only read here (its writer thread is never started). A trace's incoming links are
merged from the index's reverse-link set, so "linked from" is complete even for a revision
written before the linking trace arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.adapters.redis.trace_index import RedisTraceIndex

TraceLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


def with_incoming_links(trace: dict[str, Any], incoming: list[dict[str, str]]) -> dict[str, Any]:
    """`trace` with `incoming` entries added to its linked_from (no duplicates, order kept)."""
    known = {_link_key(e) for e in trace.get("linked_from") or []}
    extra = [e for e in incoming if _link_key(e) not in known]
    if not extra:
        return trace
    return {**trace, "linked_from": [*(trace.get("linked_from") or []), *extra]}


def _link_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry.get("trace_id"), entry.get("span_id"), entry.get("linked_span_id"))


def redis_trace_lookup(redis_url: str, prefix: str = "obspipe") -> TraceLookup:
    """A lookup reading `redis_url`'s trace index (keys under `prefix`) off the event loop."""
    index = RedisTraceIndex.from_url(redis_url, prefix=prefix)

    def read(trace_id: str) -> dict[str, Any] | None:
        trace = index.get(trace_id)
        return None if trace is None else with_incoming_links(trace, index.links_to(trace_id))

    async def lookup(trace_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(read, trace_id)

    return lookup
