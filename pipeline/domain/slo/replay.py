"""Offline SLO evaluation over recorded per-minute buckets (`obspipe slo replay`).

Input: one JSON object per line, `{"slo", "time_unix_nano" (bucket start), "good", "total"}`;
lines for the same SLO and minute add up. Every SLO is evaluated at the end of every minute from
the earliest to the latest minute in the input, with the same `SloEvaluator` as the slo-burn app.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from pipeline.domain.slo.buckets import NS_PER_MINUTE
from pipeline.domain.slo.definitions import SloDefinition
from pipeline.domain.slo.evaluate import Evaluation, SloEvaluator
from pipeline.errors import DecodeError, ValidationError


@dataclass(frozen=True, slots=True)
class BucketEvent:
    """Good and total events of one SLO in one minute."""

    slo: str
    minute: int
    good: int
    total: int


def _count(obj: dict[str, object], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name!r} must be a non-negative integer, got {value!r}", field=name)
    return value


def parse_bucket_line(line: bytes | str, known: Iterable[str] | None = None) -> BucketEvent:
    """Decode one input line.

    Raises:
        DecodeError: not a JSON object.
        ValidationError: a field is missing or wrong, good > total, or the SLO is unknown.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError(f"expected a JSON object, got {type(obj).__name__}")
    slo = obj.get("slo")
    if not isinstance(slo, str) or not slo:
        raise ValidationError("'slo' must be a non-empty string", field="slo")
    if known is not None and slo not in known:
        raise ValidationError(f"unknown SLO {slo!r} (not in the SLO file)", field="slo")
    time_ns = _count(obj, "time_unix_nano")
    good, total = _count(obj, "good"), _count(obj, "total")
    if good > total:
        raise ValidationError(f"good ({good}) exceeds total ({total})", field="good")
    return BucketEvent(slo, time_ns // NS_PER_MINUTE, good, total)


def replay(slos: list[SloDefinition], events: Iterable[BucketEvent]) -> Iterator[Evaluation]:
    """Evaluate every SLO at every minute the input spans, minute by minute in SLO file order."""
    evaluators = {slo.name: SloEvaluator(slo) for slo in slos}
    lo: int | None = None
    hi: int | None = None
    for event in events:
        evaluators[event.slo].add(event.minute, event.good, event.total)
        lo = event.minute if lo is None or event.minute < lo else lo
        hi = event.minute if hi is None or event.minute > hi else hi
    if lo is None or hi is None:
        return
    ordered = list(evaluators.values())
    for minute in range(lo, hi + 1):
        for evaluator in ordered:
            yield evaluator.evaluate(minute)
