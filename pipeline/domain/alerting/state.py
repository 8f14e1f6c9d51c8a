"""JSON forms of the router's and the statistics' state, for a state store to persist.

What must survive a restart (DESIGN.md §5): aggregation groups (their alerts, timer and the
episodes already reported as suppressed), the notification log, activation histories for
flap detection, and per-shift statistics. Classifications are not stored: they are recomputed
from the alert with the current rules when a group is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.router import AlertRouter, Group, NotifyEntry
from pipeline.domain.alerting.routing import Route
from pipeline.domain.alerting.schedule import Shift
from pipeline.domain.alerting.stats import ShiftStats


def alert_to_compact(a: Alert) -> dict[str, Any]:
    """A validated alert as a compact JSON object (state and the internal routing topic)."""
    return {"l": a.labels, "a": a.annotations, "s": a.starts_at, "e": a.ends_at, "st": a.status,
            "g": a.generator_url, "x": a.expr, "f": a.fingerprint}


def alert_from_compact(d: dict[str, Any]) -> Alert:
    """The inverse of `alert_to_compact` (trusted input: it was validated when first decoded)."""
    return Alert(labels=d["l"], annotations=d["a"], starts_at=d["s"], ends_at=d["e"], status=d["st"],
                 generator_url=d["g"], expr=d["x"], fingerprint=d["f"])


def group_to_json(g: Group) -> dict[str, Any]:
    return {"key": g.key, "route": g.route.key, "next": g.next_flush, "flushed": g.flushed,
            "alerts": [alert_to_compact(a) for a, _ in g.alerts.values()]}


def _routes(route: Route) -> Iterator[Route]:
    yield route
    for child in route.routes:
        yield from _routes(child)


def group_from_json(d: dict[str, Any], router: AlertRouter) -> Group | None:
    """A stored group for this router, or None when its route no longer exists in the config."""
    routes = {r.key: r for r in _routes(router.route)}
    route = routes.get(d["route"])
    if route is None:
        return None
    group = Group(d["key"], route, next_flush=d["next"], flushed=d["flushed"])
    for raw in d["alerts"]:
        alert = alert_from_compact(raw)
        group.alerts[alert.fingerprint] = (alert, router.classifier.classify(alert))
    return group


def entry_to_json(e: NotifyEntry) -> dict[str, Any]:
    return {"seq": e.seq, "firing": sorted(e.firing), "resolved": sorted(e.resolved), "at": e.at,
            "incident": e.incident, "decision": e.decision, "rule": e.rule, "reason": e.reason}


def entry_from_json(d: dict[str, Any]) -> NotifyEntry:
    return NotifyEntry(d["seq"], frozenset(d["firing"]), frozenset(d["resolved"]), d["at"], d["incident"],
                       d["decision"], d["rule"], d["reason"])


def stats_to_json(s: ShiftStats) -> dict[str, Any]:
    return {"shift": [s.shift.id, s.shift.oncall, s.shift.start, s.shift.end], "pages": s.pages,
            "night": s.night_pages, "na": s.non_actionable, "tickets": s.tickets,
            "incidents": sorted(s.incidents), "suppressed": s.suppressed, "ids": sorted(s.page_ids),
            "meta": s.meta_alert_sent}


def stats_from_json(d: dict[str, Any]) -> ShiftStats:
    sid, oncall, start, end = d["shift"]
    return ShiftStats(Shift(sid, oncall, start, end), pages=d["pages"], night_pages=d["night"],
                      non_actionable=d["na"], tickets=d["tickets"], incidents=set(d["incidents"]),
                      suppressed=dict(d["suppressed"]), page_ids=set(d["ids"]), meta_alert_sent=d["meta"])


def merge_stats(parts: list[ShiftStats]) -> ShiftStats:
    """One shift's figures from the parts kept by several router partitions."""
    total = ShiftStats(parts[0].shift)
    for p in parts:
        total.pages += p.pages
        total.night_pages += p.night_pages
        total.non_actionable += p.non_actionable
        total.tickets += p.tickets
        total.incidents |= p.incidents
        total.page_ids |= p.page_ids
        for reason, n in p.suppressed.items():
            total.suppressed[reason] = total.suppressed.get(reason, 0) + n
        total.meta_alert_sent = total.meta_alert_sent or p.meta_alert_sent
    return total
