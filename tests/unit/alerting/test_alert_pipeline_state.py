"""Router + statistics pipeline (meta-alert) and the state store round trip."""

from __future__ import annotations

from alerting_helpers import RouterFactory, alert

from pipeline.domain.alerting.config import build_alert_config
from pipeline.domain.alerting.pipeline import AlertPipeline
from pipeline.domain.alerting.schedule import build_schedule
from pipeline.domain.alerting.stats import PagingStats
from pipeline.domain.alerting.store import InMemoryAlertState, restore, take_changes

SCHEDULE = build_schedule({"shifts": [{"id": "day", "oncall": "alice", "start": "1970-01-01T00:00:00Z",
                                       "end": "1970-01-01T12:00:00Z"}]})


def test_second_incident_in_a_12h_shift_raises_the_meta_alert_once() -> None:
    """Two paging groups in one 12 h shift put it over target; the meta-alert becomes a ticket."""
    config = build_alert_config({"route": {"group_by": ["alertname"]}}, transient_window_s=0)
    pipeline = AlertPipeline(config.build_router(schedule=SCHEDULE), PagingStats(SCHEDULE))
    first = pipeline.on_alert(alert("HighErrorRate", -100), 0)
    assert not first.shifts["day"].over_target
    second = pipeline.on_alert(alert("APIHighLatency", -100), 10)
    assert second.shifts["day"].over_target
    later = pipeline.tick(100)  # the meta-alert waits group_wait (30 s) like any new group
    meta = [d for d in later.decisions if d.alerts[0][0].name == "OncallLoadOverTarget"]
    assert [(d.decision, d.rule, d.at) for d in meta] == [("ticket", "oncall-load", 40)]
    third = pipeline.on_alert(alert("BlackboxProbeFailed", -100), 20)
    assert not [d for d in third.decisions if d.alerts[0][0].name == "OncallLoadOverTarget"]
    assert pipeline.stats is not None and pipeline.stats.by_shift["day"].tickets == 1


def test_restored_router_does_not_renotify_and_continues_sequence(make_router: RouterFactory) -> None:
    """State saved after a page and loaded into a fresh router: the replayed alert pages nobody again,
    and the group's next notification (its resolution) gets seq 2."""
    store = InMemoryAlertState()
    r1 = make_router()
    (page,) = r1.on_alert(alert("HighErrorRate", -100), 0)
    store.save(0, take_changes(r1, None, set()))
    r2 = make_router()
    restore(r2, None, store.load(0))
    assert r2.on_alert(alert("HighErrorRate", -100), 5) == []  # the replayed input
    r2.on_alert(alert("HighErrorRate", -100, end=50), 50)
    (resolved,) = r2.tick(400)
    assert (resolved.seq, resolved.status, resolved.incident_id) == (2, "resolved", page.incident_id)
    assert take_changes(r2, None, set()).groups == {page.group_key: None}  # the group is gone
