"""Trace windows of the trace assembler (DESIGN.md §4): the store and its shared types.

`store.py` holds the open windows and the release rules, `late_cache.py` the late-span cache
and revisions, `partitions.py` the per-partition ownership and ack bookkeeping, `replay.py`
the replay merge, `model.py` the shared dataclasses, `state.py` the store's attributes.
"""

from __future__ import annotations

from pipeline.domain.windows.model import (
    IncomingLink,
    LinkRef,
    Position,
    PriorTrace,
    Reason,
    Released,
    WindowOptions,
    WindowStats,
)
from pipeline.domain.windows.store import TraceWindows

__all__ = [
    "IncomingLink",
    "LinkRef",
    "Position",
    "PriorTrace",
    "Reason",
    "Released",
    "TraceWindows",
    "WindowOptions",
    "WindowStats",
]
