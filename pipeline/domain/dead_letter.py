"""The dead-letter record (DESIGN.md §3, topic `obspipe.dlq`): why a record was rejected, where
it came from, and its bytes, so it can be inspected and replayed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

SCHEMA = "dead_letter/v1"


def origin(topic: str, partition: int, offset: int) -> str:
    """The `topic[partition]@offset` form in which errors and logs name a record."""
    return f"{topic}[{partition}]@{offset}"


def dead_letter(
    value: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    error: str,
    reason: str,
    received_at_ns: int,
) -> dict[str, Any]:
    """The dead-letter record of one rejected input record.

    Args:
        value: the record's value exactly as it arrived (None for a tombstone).
        topic, partition, offset: where it was read.
        error: the one-line message saying what is wrong (e.g. "spans[3].trace_id: ...").
        reason: the short machine-readable code (`RecordError.reason`, e.g. "decode_error").
        received_at_ns: when the worker read it, in ns since the epoch (passed in, never read here).
    """
    received = datetime.fromtimestamp(received_at_ns / 1e9, tz=UTC)
    return {
        "schema": SCHEMA,
        "error": error,
        "reason": reason,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "origin": origin(topic, partition, offset),
        "received_at": received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "value_b64": None if value is None else base64.b64encode(value).decode("ascii"),
    }
