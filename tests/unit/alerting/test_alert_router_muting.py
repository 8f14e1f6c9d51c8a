"""Routing tree, group_by, inhibition, silences, transient and flapping suppression."""

from __future__ import annotations

from alerting_helpers import RouterFactory, alert

from pipeline.domain.alerting.routing import build_route
from pipeline.domain.alerting.silences import SilenceSet, new_silence


def test_children_first_match_wins_unless_continue() -> None:
    """Alertmanager's tree: the first matching child handles the alert; `continue` lets later ones too;
    with no matching child the parent handles it; children inherit options."""
    root = build_route({
        "receiver": "root", "group_by": ["alertname"], "group_wait": "10s",
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True},
            {"matchers": ['severity="page"'], "receiver": "pager",
             "routes": [{"matchers": ['team="db"'], "receiver": "db-pager", "group_by": ["..."]}]},
            {"matchers": ['severity="page"'], "receiver": "never"},
        ],
    })
    recv = lambda labels: [r.options.receiver for r in root.match(labels)]  # noqa: E731
    assert recv({"team": "db", "severity": "page"}) == ["db", "db-pager"]
    assert recv({"team": "web", "severity": "page"}) == ["pager"]
    assert recv({"team": "web"}) == ["root"]
    matched = root.match({"team": "db", "severity": "page"})
    (db_pager,) = [r for r in matched if r.options.receiver == "db-pager"]
    assert db_pager.options.group_wait == 10.0 and db_pager.options.group_by_all
    assert db_pager.key == '{}/{severity="page"}/{team="db"}'


def test_group_by_all_labels_and_empty_group_by() -> None:
    """`['...']` groups by every label; an empty group_by puts every alert in one group."""
    by_all = build_route({"group_by": ["..."]})
    labels = {"alertname": "A", "instance": "h1"}
    assert by_all.group_key(labels) == '{}:{alertname="A", instance="h1"}'
    assert by_all.group_key({**labels, "instance": "h2"}) != by_all.group_key(labels)
    empty = build_route({"group_by": []})
    assert empty.group_key(labels) == empty.group_key({"alertname": "B"}) == "{}:{}"


def test_group_by_skips_missing_labels() -> None:
    """A group_by label the alert lacks is simply left out of the group labels."""
    route = build_route({"group_by": ["alertname", "cluster"]})
    assert route.group_key({"alertname": "A"}) == '{}:{alertname="A"}'


INHIBIT = [{"source_matchers": ['severity="page"'], "target_matchers": ['severity="warning"'],
            "equal": ["service"]}]


def test_firing_source_inhibits_target_with_equal_labels(make_router: RouterFactory) -> None:
    """A warning for the same service is inhibited while the page fires; another service is not."""
    r = make_router(inhibit_rules=INHIBIT, route={"group_by": ["..."]})
    r.on_alert(alert("HighErrorRate", -100, severity="page", service="api"), 0)
    out = r.on_alert(alert("HighLatency", -100, severity="warning", service="api"), 0)
    out += r.on_alert(alert("HighLatency", -100, severity="warning", service="db"), 0)
    by_service = {(d.alerts[0][0].name, d.alerts[0][0].labels["service"]): d for d in out}
    assert by_service[("HighLatency", "api")].decision == "suppressed"
    assert by_service[("HighLatency", "api")].reason == "inhibited"
    # Not inhibited; severity=warning maps to a ticket in the default classification.
    assert by_service[("HighLatency", "db")].decision == "ticket"


def test_missing_equal_label_counts_as_empty(make_router: RouterFactory) -> None:
    """Source and target both without `service` agree on it (both empty), so inhibition applies."""
    r = make_router(inhibit_rules=INHIBIT, route={"group_by": ["..."]})
    r.on_alert(alert("A", -100, severity="page"), 0)
    (d,) = r.on_alert(alert("B", -100, severity="warning"), 0)
    assert d.reason == "inhibited"


def test_resolved_source_no_longer_inhibits(make_router: RouterFactory) -> None:
    """Once the source resolves the target is notified."""
    r = make_router(inhibit_rules=INHIBIT, route={"group_by": ["..."], "group_interval": "1m"})
    r.on_alert(alert("A", -100, severity="page", service="s"), 0)
    r.on_alert(alert("B", -100, severity="warning", service="s"), 0)
    r.on_alert(alert("A", -100, end=10, severity="page", service="s"), 10)
    out = r.tick(60)
    assert [(d.decision, d.alerts[0][0].name) for d in out if d.status == "firing"] == [("ticket", "B")]


def test_alert_matching_both_sides_cannot_inhibit_itself(make_router: RouterFactory) -> None:
    """Two alerts that each match source and target do not inhibit each other (Alertmanager docs)."""
    rule = [{"source_matchers": ['severity="page"'], "target_matchers": ['severity="page"'],
             "equal": ["cluster"]}]
    r = make_router(inhibit_rules=rule, route={"group_by": ["..."]})
    out = r.on_alert(alert("A", -100, severity="page", cluster="c"), 0)
    out += r.on_alert(alert("B", -100, severity="page", cluster="c"), 0)
    assert [d.decision for d in out] == ["page", "page"]


def test_silence_mutes_only_while_active_and_reports_once(make_router: RouterFactory) -> None:
    """An active silence whose matchers all match suppresses the alert once per episode; anchored regexes."""
    silences = SilenceSet([new_silence('alertname="HighErrorRate",env=~"prod"', 0, 1000, "me", "deploy")])
    r = make_router(silences=silences)
    (d,) = r.on_alert(alert("HighErrorRate", -100, env="prod"), 0)
    assert (d.decision, d.reason) == ("suppressed", "silenced") and d.rule.startswith("silence:")
    assert r.tick(600) == []  # still silenced: not reported again
    (after,) = r.tick(1200)  # the silence ended at 1000
    assert after.decision == "page"
    r2 = make_router(silences=silences)
    (d2,) = r2.on_alert(alert("HighErrorRate", -100, env="production"), 0)
    assert d2.decision == "page"  # `prod` does not match `production`


def test_transient_alert_never_pages(make_router: RouterFactory) -> None:
    """An alert resolving within the transient window (120 s) yields one `suppressed: transient` only."""
    r = make_router(transient=120)
    r.on_alert(alert("HighErrorRate", 0), 0)
    assert r.tick(30) == []  # group_wait passed, but the alert is younger than the window
    r.on_alert(alert("HighErrorRate", 0, end=90), 90)
    (d,) = r.tick(130)
    assert (d.decision, d.reason, d.rule) == ("suppressed", "transient", "transient-window")
    assert r.tick(10_000) == []


def test_alert_outliving_transient_window_pages_when_window_ends(make_router: RouterFactory) -> None:
    """Held at group_wait (30 s), the alert pages at startsAt + 120 s, not a group_interval later."""
    r = make_router(transient=120)
    r.on_alert(alert("HighErrorRate", 0), 0)
    assert r.tick(119) == []
    (d,) = r.tick(120)
    assert d.decision == "page"


def test_flapping_alert_is_suppressed_on_third_activation(make_router: RouterFactory) -> None:
    """Three activations within an hour: the first two page, the third is suppressed as flapping."""
    r = make_router(transient=120)
    firing = []
    for start in (0, 1000, 2000):
        firing += [d for d in r.on_alert(alert("HighErrorRate", start), start) if d.status == "firing"]
        firing += [d for d in r.tick(start + 400) if d.status == "firing"]
        r.on_alert(alert("HighErrorRate", start, end=start + 500), start + 500)
        r.tick(start + 900)
    assert [(d.decision, d.reason if d.decision == "suppressed" else "") for d in firing] == [
        ("page", ""), ("page", ""), ("suppressed", "flapping")]


def test_cause_alert_becomes_ticket(make_router: RouterFactory) -> None:
    """A CPU alert is a cause: notified as a ticket, with the rule named."""
    r = make_router()
    (d,) = r.on_alert(alert("HighCPUUsage", -100), 0)
    assert (d.decision, d.rule, d.actionable) == ("ticket", "resource-utilisation", False)


def test_source_that_times_out_stops_inhibiting_and_is_forgotten(make_router: RouterFactory) -> None:
    """A source alert whose endsAt passes (no resolved record) no longer inhibits, and the sweep drops it."""
    r = make_router(inhibit_rules=INHIBIT, route={"group_by": ["..."]})
    source = alert("A", -100, severity="page", service="s")
    source.ends_at = 50.0  # Alertmanager's resolve timeout: firing until then
    r.on_alert(source, 0)
    (early,) = r.on_alert(alert("B", -100, severity="warning", service="s"), 0)
    assert early.reason == "inhibited"
    assert r.inhibitor.muted_by({"severity": "warning", "service": "s"}, 60) is None
    r.tick(100_000)  # the sweep runs
    assert r.inhibitor.rules[0].sources == {}
