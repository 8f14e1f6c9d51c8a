"""Bundles of validated alerts on the router's internal single-partition routing topic.

The intake stage decodes and validates `alerts.raw` records (any partition, any worker) and
forwards their alerts, with each record's event time, as one bundle per batch; the routing
stage (the owner of the routing topic's only partition) routes them. A bundle is a JSON array
of `[event time (epoch s), compact alert]` pairs (`state.alert_to_compact`).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.state import alert_from_compact, alert_to_compact
from pipeline.errors import DecodeError

TimedAlert = tuple[float, Alert]


# Kafka's default max.message.bytes is 1 MiB; half of that leaves room for headers and batching.
BUNDLE_MAX_BYTES = 512 * 1024


def encode_bundles(items: Sequence[TimedAlert], max_bytes: int = BUNDLE_MAX_BYTES) -> list[bytes]:
    """Routing-topic records for these alerts, each at most `max_bytes` (or one alert, if larger)."""
    out: list[bytes] = []
    parts: list[bytes] = []
    size = 2
    for t, a in items:
        part = orjson.dumps([t, alert_to_compact(a)])
        if parts and size + len(part) + 1 > max_bytes:
            out.append(b"[" + b",".join(parts) + b"]")
            parts, size = [], 2
        parts.append(part)
        size += len(part) + 1
    if parts:
        out.append(b"[" + b",".join(parts) + b"]")
    return out


def decode_bundle(value: bytes | None) -> list[TimedAlert]:
    """The alerts of a routing-topic record.

    Raises:
        DecodeError: the record is not a bundle (only a bug or a foreign producer can cause it).
    """
    try:
        items = orjson.loads(value or b"")
        return [(float(t), alert_from_compact(raw)) for t, raw in items]
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise DecodeError(f"not an alert bundle: {type(exc).__name__}: {exc}", field="value") from None
