"""schemas/red_metrics.v1, slo_status.v1 and slo_alert.v1 accept what the code emits, and bite."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest
from jsonschema import ValidationError

from pipeline.domain.red.aggregate import RedAggregator
from pipeline.domain.slo.definitions import SloDefinition
from pipeline.domain.slo.evaluate import SloEvaluator
from pipeline.domain.span import Span
from pipeline.testing.schemas import validator

MINUTE = 60_000_000_000
T0 = 28_333_340 * MINUTE


def red_records() -> list[dict]:
    agg: RedAggregator[str] = RedAggregator(10, 0, source="spans[0]")
    spans = [Span("a" * 32, "b" * 16, "GET /", T0 + i * 10**8, T0 + i * 10**8 + 7 * 10**6 * i, "api",
                  kind="SERVER", status_code="ERROR" if i == 3 else "OK") for i in range(20)]
    records = agg.add_bundle(spans, "t").records + agg.flush().records
    return [orjson.loads(orjson.dumps(r)) for _, r in records]


def outage() -> list[dict]:
    slo = SloDefinition("api", Fraction(999, 1000), "99.9", 43200, "30d", "api")
    ev = SloEvaluator(slo)
    out = []
    for m, bad in enumerate([0, 0, 1000, 0, 0, 0, 0, 0]):
        ev.add(T0 // MINUTE + m, 1000 - bad, 1000)
        out.append(ev.evaluate(T0 // MINUTE + m))
    return out


def test_red_records_validate() -> None:
    """Every RED record the aggregator emits satisfies red_metrics.v1, and a missing sketch does not."""
    records = red_records()
    assert records
    for record in records:
        validator("red_metrics.v1").validate(record)
    with pytest.raises(ValidationError):
        validator("red_metrics.v1").validate({k: v for k, v in records[0].items() if k != "sketch"})


def test_slo_status_and_alerts_validate() -> None:
    """Statuses (with null burn rates too) and firing/resolved alerts satisfy their schemas."""
    evaluations = outage()
    alerts = [a for e in evaluations for a in e.alerts]
    assert {a["status"] for a in alerts} == {"firing", "resolved"}
    for e in evaluations:
        validator("slo_status.v1").validate(orjson.loads(orjson.dumps(e.status)))
    for alert in alerts:
        validator("slo_alert.v1").validate(alert)
    empty = SloEvaluator(SloDefinition("x", Fraction(99, 100), "99", 60, "1h")).evaluate(1).status
    validator("slo_status.v1").validate(empty)
    with pytest.raises(ValidationError):
        validator("slo_status.v1").validate(evaluations[0].status | {"policy_tier": "panic"})
