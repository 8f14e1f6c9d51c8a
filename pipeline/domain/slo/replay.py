"""Offline SLO evaluation over recorded per-minute buckets (`obspipe slo replay`).

Input: one JSON object per line, `{"slo", "time_unix_nano" (bucket start), "good", "total"}`;
lines for the same SLO and minute add up. Every SLO is evaluated at the end of every minute from
the earliest to the latest minute in the input, with the same `SloEvaluator` as the slo-burn app.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from typing import NamedTuple

import orjson

from pipeline.domain.slo.buckets import NS_PER_MINUTE
from pipeline.domain.slo.definitions import SloDefinition
from pipeline.domain.slo.evaluate import Evaluation, SloEvaluator
from pipeline.errors import DecodeError, ValidationError


class BucketEvent(NamedTuple):
    """Good and total events of one SLO in one minute (a tuple: 432,000 of them must be cheap)."""

    slo: str
    minute: int
    good: int
    total: int


def _count(obj: dict[str, object], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name!r} must be a non-negative integer, got {value!r}", field=name)
    return value


def parse_bucket_line(line: bytes | str, known: Container[str] | None = None) -> BucketEvent:
    """Decode one input line.

    Raises:
        DecodeError: not a JSON object.
        ValidationError: a field is missing or wrong, good > total, or the SLO is unknown.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if obj.__class__ is dict:  # the fast path of a valid line; errors are worked out below
        get = obj.get
        slo, time_ns, good, total = get("slo"), get("time_unix_nano"), get("good"), get("total")
        if (
            slo.__class__ is str
            and (known is None or slo in known)
            and time_ns.__class__ is int
            and good.__class__ is int
            and total.__class__ is int
            and time_ns >= 0
            and 0 <= good <= total
        ):
            return BucketEvent(slo, time_ns // NS_PER_MINUTE, good, total)
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
    minutes = set()
    for slo, minute, good, total in events:
        evaluators[slo].add(minute, good, total)
        minutes.add(minute)
    if not minutes:
        return
    lo, hi = min(minutes), max(minutes)
    ordered = list(evaluators.values())
    for minute in range(lo, hi + 1):
        for evaluator in ordered:
            yield evaluator.evaluate(minute)
