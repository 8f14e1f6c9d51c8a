"""The evidence the cross-trace propagation rules remember: spans that can explain another
trace's root, indexed by what a root is matched on (see `pipeline.domain.propagation_rules`).

Evidence is filed one *release* (the spans of the traces released together) at a time: per
index key, a release adds one tuple of its spans to that key's queue, and forgetting the oldest
release pops one tuple per key it filed. Per span this costs a dict append, against a tuple of
slots, a struct and a deque entry each to file and to unfile it span by span (about 1 µs of
the 1.9 µs the rules took per released span).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from pipeline.domain.span import Span, span_host

CLIENT_TARGET_KEYS = ("peer.service", "server.address", "net.peer.name", "rpc.service")
DESTINATION = "messaging.destination.name"


def names(span: Span, keys: tuple[str, ...]) -> set[str]:
    """The non-empty values of `keys` among the span's attributes, as strings."""
    return {str(v) for k in keys if (v := span.attributes.get(k))}


def answered(spans: Sequence[Span]) -> set[tuple[str, str]]:
    """(trace_id, span_id) of every span that has a child among `spans`, in its own trace."""
    return {(s.trace_id, s.parent_span_id) for s in spans if s.parent_span_id}


_CLIENTS, _PRODUCERS, _ENTRIES = 0, 1, 2
# A remembered release: (newest end time, evidence span count, the (index number, key) it filed).
# Tuples of atomic values and untracked spans: the GC stops tracking them after one look.
_Release = tuple[int, int, tuple[tuple[int, Any], ...]]


class Evidence:
    """Evidence spans by what a root is matched on, oldest release first:

    - `clients`: unanswered CLIENT spans by target name (`CLIENT_TARGET_KEYS` values);
    - `producers`: unanswered PRODUCER spans by `messaging.destination.name`;
    - `entries`: SERVER and CONSUMER spans by (service, host).

    Unanswered = no span of the caller's own trace (in the same release) is its child. Each
    queue holds one tuple of spans per release; `callers`/`producers_to`/`entries_at` iterate
    them in filing order.
    """

    __slots__ = ("_indexes", "_releases", "clients", "entries", "producers", "spans")

    def __init__(self) -> None:
        self.clients: dict[str, deque[tuple[Span, ...]]] = {}
        self.producers: dict[str, deque[tuple[Span, ...]]] = {}
        self.entries: dict[tuple[str, str], deque[tuple[Span, ...]]] = {}
        self._indexes: tuple[dict[Any, deque[tuple[Span, ...]]], ...] = (
            self.clients,
            self.producers,
            self.entries,
        )
        self._releases: deque[_Release] = deque()
        self.spans = 0  # evidence spans filed and not yet forgotten

    def add(self, spans: Sequence[Span]) -> int:
        """File the evidence among `spans` (whole traces) as one release; returns the newest end
        time of its evidence spans (0 if it had none)."""
        local: tuple[dict[Any, list[Span]], ...] = ({}, {}, {})
        clients, producers, entries = local
        done: set[tuple[str, str]] | None = None  # answered callers, built at the first caller
        newest = count = 0
        for s in spans:
            kind = s.kind
            if kind in {"SERVER", "CONSUMER"}:
                host = span_host(s)
                if host is None:
                    continue
                key = (s.service_name, host)
                chunk = entries.get(key)
                if chunk is None:
                    entries[key] = [s]
                else:
                    chunk.append(s)
            elif kind in {"CLIENT", "PRODUCER"}:
                if done is None:
                    done = answered(spans)
                if (s.trace_id, s.span_id) in done:
                    continue
                if kind == "CLIENT":
                    targets = names(s, CLIENT_TARGET_KEYS)
                    if not targets:
                        continue
                    for name in targets:
                        clients.setdefault(name, []).append(s)
                else:
                    destination = s.attributes.get(DESTINATION)
                    if not destination:
                        continue
                    producers.setdefault(str(destination), []).append(s)
            else:
                continue
            count += 1
            if s.end_time_unix_nano > newest:  # noqa: PLR1730 - max() costs a call per span
                newest = s.end_time_unix_nano
        if count:
            filed: list[tuple[int, Any]] = []
            for number, found in enumerate(local):
                index = self._indexes[number]
                for key, chunk in found.items():
                    queue = index.get(key)
                    if queue is None:
                        index[key] = deque((tuple(chunk),))
                    else:
                        queue.append(tuple(chunk))
                    filed.append((number, key))
            self._releases.append((newest, count, tuple(filed)))
            self.spans += count
        return newest

    def forget(self, before_ns: int, max_spans: int) -> None:
        """Forget the oldest releases while the newest of their spans ended before `before_ns`,
        or while more than `max_spans` spans are filed (the newest release stays: the bound may
        be exceeded by one release)."""
        releases, indexes = self._releases, self._indexes
        while releases and (releases[0][0] < before_ns or (self.spans > max_spans and len(releases) > 1)):
            _newest, count, filed = releases.popleft()
            self.spans -= count
            for number, key in filed:
                index = indexes[number]
                queue = index[key]
                queue.popleft()
                if not queue:
                    del index[key]

    def callers(self, name: str) -> Iterator[Span]:
        """Unanswered CLIENT spans targeting `name`, oldest first."""
        for chunk in self.clients.get(name, ()):
            yield from chunk

    def producers_to(self, destination: str) -> Iterator[Span]:
        """Unanswered PRODUCER spans to `destination`, oldest first."""
        for chunk in self.producers.get(destination, ()):
            yield from chunk

    def entries_at(self, service: str, host: str) -> Iterator[Span]:
        """SERVER/CONSUMER spans of `service` on `host`, oldest first."""
        for chunk in self.entries.get((service, host), ()):
            yield from chunk
