"""The evidence the cross-trace propagation rules remember: spans that can explain another
trace's root, indexed by what a root is matched on (see `pipeline.domain.propagation_rules`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.domain.span import Span, span_host

CLIENT_TARGET_KEYS = ("peer.service", "server.address", "net.peer.name", "rpc.service")
DESTINATION = "messaging.destination.name"


def names(span: Span, keys: tuple[str, ...]) -> set[str]:
    """The non-empty values of `keys` among the span's attributes, as strings."""
    return {str(v) for k in keys if (v := span.attributes.get(k))}


# Where one evidence span is filed: (index number in Evidence.indexes, key) per key. Numbers,
# not the dicts themselves: a tuple of ints and strings is untracked by the garbage collector
# once it has seen it, and tens of thousands of these live as long as the evidence.
Slots = tuple[tuple[int, Any], ...]
_CLIENTS, _PRODUCERS, _ENTRIES = 0, 1, 2


@dataclass(slots=True)
class Evidence:
    """Evidence spans indexed by what a root is matched on.

    Each per-key deque is in insertion order, so the oldest evidence can be removed from the
    front of its deques without rebuilding the index (`PropagationWatch` prunes every check).
    """

    clients: dict[str, deque[Span]] = field(default_factory=dict)  # by target name
    producers: dict[str, deque[Span]] = field(default_factory=dict)  # by destination
    entries: dict[tuple[str, str], deque[Span]] = field(default_factory=dict)  # by (service, host)
    indexes: tuple[dict[Any, deque[Span]], ...] = ()

    def __post_init__(self) -> None:
        self.indexes = (self.clients, self.producers, self.entries)

    def add(self, spans: Iterable[Span]) -> None:
        for s in spans:
            self.file(s)

    def _slots(self, s: Span) -> Slots:
        kind = s.kind
        if kind == "CLIENT":
            return tuple((_CLIENTS, name) for name in names(s, CLIENT_TARGET_KEYS))
        if kind == "PRODUCER":
            destination = s.attributes.get(DESTINATION)
            return ((_PRODUCERS, str(destination)),) if destination else ()
        host = span_host(s)
        return ((_ENTRIES, (s.service_name, host)),) if host is not None else ()

    def file(self, s: Span) -> Slots:
        """Index one evidence span; returns where it went (for `remove_oldest`)."""
        slots = self._slots(s)
        indexes = self.indexes
        for number, key in slots:
            index = indexes[number]
            queue = index.get(key)
            if queue is None:
                index[key] = deque((s,))
            else:
                queue.append(s)
        return slots

    def remove_oldest(self, s: Span, slots: Slots) -> None:
        """Unfile `s`, which must be the oldest span still filed under each of its slots."""
        indexes = self.indexes
        for number, key in slots:
            index = indexes[number]
            queue = index.get(key)
            if queue and queue[0] is s:
                queue.popleft()
                if not queue:
                    del index[key]


class Filed(msgspec.Struct, gc=False):
    """One remembered evidence span and its slots. Not tracked by the garbage collector (it
    refers only to a span, itself untracked, and to atomic slots), so the evidence adds nothing
    for every collection to traverse."""

    span: Span
    slots: Slots
