"""Grouping and notification timing follow Alertmanager's dispatcher and dedup stage."""

from __future__ import annotations

from alerting_helpers import RouterFactory, alert

from pipeline.domain.alerting.router import NotifyEntry, needs_update


def test_first_notification_waits_group_wait_and_batches_the_group(make_router: RouterFactory) -> None:
    """Alerts of one group arriving within group_wait go out together, group_wait after the first."""
    r = make_router()
    assert r.on_alert(alert("HighErrorRate", 0, service="a"), 0) == []
    assert r.on_alert(alert("HighErrorRate", 10, service="b"), 10) == []
    assert r.tick(29.9) == []
    (d,) = r.tick(30)
    assert (d.decision, d.status, d.seq, d.at) == ("page", "firing", 1, 30)
    assert {a.labels["service"] for a, _ in d.alerts} == {"a", "b"}
    assert d.group_key == '{}:{alertname="HighErrorRate"}'


def test_new_alert_after_first_flush_waits_for_group_interval(make_router: RouterFactory) -> None:
    """A new alert in a notified group goes out at the next group_interval tick (30 + 300 = 330)."""
    r = make_router()
    r.on_alert(alert("HighErrorRate", 0, service="a"), 0)
    r.tick(30)
    r.on_alert(alert("HighErrorRate", 100, service="b"), 100)
    assert r.tick(329) == []
    (d,) = r.tick(330)
    assert d.seq == 2 and len(d.alerts) == 2
    assert d.incident_id == r.nflog[d.group_key].incident  # same incident as the first page


def test_unchanged_group_repeats_only_after_repeat_interval(make_router: RouterFactory) -> None:
    """Notified at 30 with repeat 1 h: flushes at 330, 630, ... stay silent until one is strictly later
    than 30 + 3600 (Alertmanager compares with Before), i.e. the flush at 3930."""
    r = make_router()
    r.on_alert(alert("HighErrorRate", 0), 0)
    r.tick(30)
    assert r.tick(3630) == []
    (d,) = r.tick(3930)
    assert d.seq == 2 and d.status == "firing"


def test_old_alert_flushes_immediately(make_router: RouterFactory) -> None:
    """An alert whose startsAt + group_wait has passed is notified at once."""
    r = make_router()
    (d,) = r.on_alert(alert("HighErrorRate", -100), 0)
    assert d.at == 0


def test_resolved_notification_then_group_is_removed(make_router: RouterFactory) -> None:
    """A notified alert that resolves yields a resolved notification at the next flush; the group ends."""
    r = make_router()
    r.on_alert(alert("HighErrorRate", 0), 0)
    (page,) = r.tick(30)
    r.on_alert(alert("HighErrorRate", 0, end=200), 200)
    (d,) = r.tick(330)
    assert (d.status, d.decision, d.seq, d.incident_id) == ("resolved", "page", 2, page.incident_id)
    assert not d.is_page
    assert r.groups == {}


def test_send_resolved_false_suppresses_the_resolved_message(make_router: RouterFactory) -> None:
    """With send_resolved: false nothing is sent on resolution, but the log forgets the firing set."""
    r = make_router(route={"group_by": ["alertname"], "send_resolved": False})
    r.on_alert(alert("HighErrorRate", -100), 0)
    r.on_alert(alert("HighErrorRate", -100, end=10), 10)
    assert r.tick(400) == []
    key = '{}:{alertname="HighErrorRate"}'
    assert r.nflog[key].firing == frozenset()


def test_alert_resolved_before_group_wait_is_never_notified(make_router: RouterFactory) -> None:
    """Alertmanager does not notify a group whose only alert resolved before the first flush."""
    r = make_router()
    r.on_alert(alert("HighErrorRate", 0), 0)
    r.on_alert(alert("HighErrorRate", 0, end=5), 5)
    assert [d for d in r.tick(1000) if d.decision != "suppressed"] == []


def test_needs_update_follows_alertmanager_dedup_stage() -> None:
    """Each branch of DedupStage.needsUpdate, worked by hand."""
    e = NotifyEntry(1, frozenset({"a"}), frozenset(), 100.0, "i", "page", "r", "x")
    kw = {"now": 200.0, "repeat_interval": 1000.0, "send_resolved": True}
    assert needs_update(None, {"a"}, set(), **kw) is True
    assert needs_update(None, set(), {"a"}, **kw) is False
    assert needs_update(e, {"a", "b"}, set(), **kw) is True  # a new firing alert
    assert needs_update(e, set(), {"a"}, **kw) is True  # everything resolved
    assert needs_update(e, {"a"}, set(), **kw) is False  # nothing changed
    assert needs_update(e, {"a"}, {"c"}, **kw) is True  # a new resolved alert
    assert needs_update(e, {"a"}, {"c"}, now=200.0, repeat_interval=1000.0, send_resolved=False) is False
    assert needs_update(e, {"a"}, set(), now=1100.1, repeat_interval=1000.0, send_resolved=True) is True


def test_same_input_gives_same_decision_ids(make_router: RouterFactory) -> None:
    """Decision ids are deterministic: a replay of the same input reproduces them."""

    def run() -> list[str]:
        r = make_router(transient=60)
        out = []
        inputs = [(0, alert("HighErrorRate", 0)), (50, alert("HighCPU", 50)),
                  (70, alert("HighCPU", 50, end=70))]
        for t, a in inputs:
            out += [d.id for d in r.on_alert(a, t)]
        out += [d.id for d in r.tick(5000)]
        return out

    first = run()
    # The page at 60, HighCPU's transient suppression, and the page's repeat (5000 - 60 > 3600).
    assert first == run() and len(first) == 3
