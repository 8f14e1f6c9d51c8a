"""The records on alerts.pages and oncall.stats match their JSON Schemas."""

from __future__ import annotations

from alerting_helpers import RouterFactory, alert

from pipeline.domain.alerting.schedule import build_schedule
from pipeline.domain.alerting.stats import PageRecord, PagingStats
from pipeline.testing.schemas import validator


def test_decisions_match_alert_decision_schema(make_router: RouterFactory) -> None:
    """Page, ticket, suppressed and resolved decisions all validate against alert_decision.v1."""
    r = make_router(transient=60)
    out = r.on_alert(alert("HighErrorRate", -100), 0)
    out += r.on_alert(alert("HighCPUUsage", -100), 0)
    out += r.on_alert(alert("SlowThing", 10), 10)
    out += r.on_alert(alert("SlowThing", 10, end=20), 20)
    out += r.on_alert(alert("HighErrorRate", -100, end=30), 30)
    out += r.tick(1000)
    assert {(d.decision, d.status) for d in out} == {
        ("page", "firing"), ("ticket", "firing"), ("suppressed", "firing"), ("page", "resolved")}
    for d in out:
        validator("alert_decision.v1").validate(d.to_json())


def test_shift_stats_match_oncall_stats_schema() -> None:
    """A shift's figures validate against oncall_stats.v1."""
    stats = PagingStats(build_schedule({"shifts": [{"id": "s", "oncall": "a", "start": "2026-01-01T00:00:00Z",
                                                    "end": "2026-01-01T12:00:00Z"}]}))
    shift = stats.add_page(PageRecord("p", 1767225600.0 + 60))
    assert shift is not None
    validator("oncall_stats.v1").validate(shift.to_json())


def test_bundles_split_by_size_and_round_trip() -> None:
    """Alerts split into routing bundles under the byte limit come back whole and in order."""
    from pipeline.domain.alerting.bundle import decode_bundle, encode_bundles

    items = [(float(i), alert(f"A{i}", float(i), service="s" * 50)) for i in range(30)]
    bundles = encode_bundles(items, max_bytes=1000)
    assert len(bundles) > 1 and all(len(b) <= 1000 for b in bundles)
    back = [x for b in bundles for x in decode_bundle(b)]
    assert [(t, a.labels, a.fingerprint) for t, a in back] == [(t, a.labels, a.fingerprint) for t, a in items]
