"""Properties of the router over random alert streams: deterministic, unique ids, and a router
restored from saved state decides exactly what an uninterrupted one does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.alerting.config import build_alert_config
from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.router import AlertRouter
from pipeline.domain.alerting.store import InMemoryAlertState, restore, take_changes

NAMES = ["HighErrorRate", "HighCPUUsage", "APIHighLatency", "InstanceDown"]
CONFIG = build_alert_config({"route": {"group_by": ["alertname"], "group_wait": "30s", "group_interval": "2m",
                                       "repeat_interval": "30m"},
                             "suppression": {"flap_window": "20m", "flap_threshold": 3}},
                            transient_window_s=60)

event = st.tuples(st.sampled_from(NAMES), st.sampled_from(["a", "b"]), st.integers(0, 40),
                  st.booleans(), st.integers(1, 300))


def stream(events: list[tuple[str, str, int, bool, int]]) -> list[tuple[float, Alert]]:
    """Turn draws into time-ordered alerts: every 20 s an alert starts (episode = start index) or resolves."""
    out = []
    for i, (name, service, episode, resolve, duration) in enumerate(events):
        start = float(episode * 40)
        now = max(float(i * 20), start)
        labels = {"alertname": name, "service": service}
        if resolve:
            resolved = Alert(labels, starts_at=start, ends_at=start + duration, status="resolved")
            out.append((now + duration, resolved))
        else:
            out.append((now, Alert(labels, starts_at=start)))
    return sorted(out, key=lambda p: p[0])


def run(router: AlertRouter, alerts: list[tuple[float, Alert]], end: float) -> list[tuple[str, str, float]]:
    decided = []
    for t, a in alerts:
        decided += [(d.id, d.decision, d.at) for d in router.on_alert(a, t)]
    decided += [(d.id, d.decision, d.at) for d in router.tick(end)]
    return decided


@settings(max_examples=60, deadline=None)
@given(st.lists(event, min_size=1, max_size=40), st.integers(0, 40))
def test_restored_router_matches_uninterrupted_one(
    events: list[tuple[str, str, int, bool, int]], cut: int
) -> None:
    """Saving state after any prefix and restoring it into a fresh router changes no decision."""
    alerts = stream(events)
    cut = min(cut, len(alerts))
    end = alerts[-1][0] + 4000
    whole = run(CONFIG.build_router(), alerts, end)
    ids = [i for i, _, _ in whole]
    assert len(ids) == len(set(ids)), "a decision id repeated"

    first = CONFIG.build_router()
    before = run(first, alerts[:cut], alerts[cut - 1][0] if cut else 0.0)
    store = InMemoryAlertState()
    store.save(0, take_changes(first, None, set()))
    second = CONFIG.build_router()
    restore(second, None, store.load(0))
    after = run(second, alerts[cut:], end)
    assert before + after == whole
