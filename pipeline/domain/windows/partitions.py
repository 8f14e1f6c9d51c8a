"""Per-partition bookkeeping of the window store: ownership, replay suspicion and acks.

Every input record (`Position`) carries a reference count = the number of unreleased windows
holding something from it; a record may be acknowledged once that count reaches zero.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from pipeline.domain.windows.model import Position
from pipeline.domain.windows.state import WindowState


class PartitionBook(WindowState):
    """Partition assignment and revocation, and the reference counts of input records."""

    # ---- partitions ---------------------------------------------------------------------
    def assign_partition(self, partition: int, now: float, end_offsets: dict[str, int] | None = None) -> None:
        """Note that this worker now owns `partition` (its replayed records come first).

        Args:
            end_offsets: topic -> the partition's end offset when it was assigned, if known;
                records at or above it cannot have been seen by a previous owner.
        """
        self._assigned_at[partition] = now
        if end_offsets:
            self._end_offsets[partition] = dict(end_offsets)
        else:
            self._end_offsets.pop(partition, None)

    def drop_partition(self, partition: int) -> int:
        """Discard everything of a revoked partition without emitting it; returns spans dropped.

        The new owner replays the partition from its committed offset, so nothing is lost; the
        late cache of the partition goes too, since the new owner may emit newer revisions.
        """
        self._assigned_at.pop(partition, None)
        self._end_offsets.pop(partition, None)
        dropped = 0
        for trace_id in [t for t, w in self._open.items() if w.partition == partition]:
            dropped += len(self._open.pop(trace_id).spans)
        self._open_spans -= dropped
        for trace_id in [t for t, c in self._cache.items() if c.partition == partition]:
            self._cache_spans -= len(self._cache.pop(trace_id).spans)
        for trace_id in [t for t, (_, p) in self._released_ids.items() if p == partition]:
            del self._released_ids[trace_id]
        for trace_id in [t for t, (p, _) in self._pending_links.items() if p == partition]:
            del self._pending_links[trace_id]
        for pos in [p for p in self._refs if p[1] == partition]:
            del self._refs[pos]
        self._ready = [p for p in self._ready if p[1] != partition]
        self._by_age = deque(e for e in self._by_age if e[2].partition != partition)
        self.stats.spans_discarded_on_revoke += dropped
        return dropped

    def _maybe_replayed(self, position: Position, now: float) -> bool:
        topic, partition, offset = position
        assigned = self._assigned_at.get(partition)
        if assigned is None:
            return False
        since = now - assigned
        ends = self._end_offsets.get(partition)
        if ends is not None and topic in ends:
            return offset < ends[topic] or since < self.options.replay_tail_s
        return since < self.options.replay_suspect_s

    # ---- acknowledgement ----------------------------------------------------------------
    def _hold(self, position: Position, holders: int) -> None:
        if holders:
            self._refs[position] = self._refs.get(position, 0) + holders
        elif position not in self._refs:
            self._ready.append(position)

    def settle(self, positions: Iterable[Position]) -> list[Position]:
        """A trace holding `positions` was delivered: return the records now fully done."""
        done: list[Position] = []
        refs = self._refs
        for pos in positions:
            count = refs.get(pos)
            if count is None:
                continue  # its partition was revoked meanwhile
            if count <= 1:
                del refs[pos]
                done.append(pos)
            else:
                refs[pos] = count - 1
        return done

    def take_ready(self) -> list[Position]:
        """Records that needed no trace output (duplicates, parked links): ack them now."""
        ready, self._ready = self._ready, []
        return ready

    def committable(self, topic: str, partition: int, next_offset: int) -> int:
        """The offset a plain consumer may commit for a partition: its first record not done.

        Args:
            next_offset: the offset after the last record added from this partition.
        """
        pending = [p[2] for p in self._refs if p[0] == topic and p[1] == partition]
        return min(pending, default=next_offset)
