"""The alert router: Alertmanager's dispatcher as a deterministic event-time state machine.

Drive it with `on_alert(alert, now)` for every incoming alert and `tick(now)` from a timer;
both return the decisions that became due. `now` only moves forward (a smaller value is
treated as the largest seen so far), so replaying the same input gives the same decisions.

Per aggregation group (Alertmanager `dispatch/dispatch.go`): the first notification waits
`group_wait` (or goes at once if the alert's own `startsAt + group_wait` has passed), later
flushes run every `group_interval`. A flush notifies when Alertmanager's dedup stage would
(`notify.DedupStage.needsUpdate`): the group was never notified, a firing alert is new, all
alerts resolved, a resolved alert is new and the route sends resolved notifications, or
`repeat_interval` has passed. Before that, obspipe mutes alerts (silences, inhibition), holds
alerts younger than the transient window, and suppresses flapping alerts; each suppressed
alert episode yields exactly one `suppressed` decision naming the reason.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.alerting.classify import Classification, Classifier
from pipeline.domain.alerting.decision import Decision
from pipeline.domain.alerting.fingerprint import short_hash
from pipeline.domain.alerting.inhibit import Inhibitor
from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.routing import Route
from pipeline.domain.alerting.schedule import Schedule
from pipeline.domain.alerting.silences import SilenceSet

AlertItem = tuple[Alert, Classification]
NFLOG_RETENTION_S = 120 * 3600.0  # Alertmanager's default notification-log retention


@dataclass(frozen=True, slots=True)
class Suppression:
    """Noise-suppression parameters (DESIGN.md §5)."""

    transient_window: float = 120.0
    flap_window: float = 3600.0
    flap_threshold: int = 3


@dataclass(slots=True)
class NotifyEntry:
    """The notification log entry of a group: what was last notified and when."""

    seq: int
    firing: frozenset[str]
    resolved: frozenset[str]
    at: float
    incident: str
    decision: str
    rule: str
    reason: str


@dataclass(slots=True)
class Group:
    """An aggregation group: alerts sharing a route and group labels."""

    key: str
    route: Route
    alerts: dict[str, tuple[Alert, Classification]] = field(default_factory=dict)
    next_flush: float = 0.0
    flushed: bool = False


def needs_update(entry: NotifyEntry | None, firing: set[str], resolved: set[str], *, now: float,
                 repeat_interval: float, send_resolved: bool) -> bool:
    """Alertmanager's `DedupStage.needsUpdate`, over fingerprints."""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.at < now - repeat_interval


class AlertRouter:
    """Groups, mutes, classifies and notifies; all state is in memory and exportable."""

    def __init__(self, route: Route, classifier: Classifier, inhibitor: Inhibitor, *,
                 silences: SilenceSet, suppression: Suppression, schedule: Schedule | None = None) -> None:
        self.route = route
        self.classifier = classifier
        self.inhibitor = inhibitor
        self.silences = silences
        self.suppression = suppression
        self.schedule = schedule
        self.groups: dict[str, Group] = {}
        self.nflog: dict[str, NotifyEntry] = {}
        self.activations: dict[str, list[float]] = {}
        # fingerprint -> start of the last episode reported as suppressed (one report per episode)
        self.noted: dict[str, float] = {}
        self.now = float("-inf")
        self._timers: list[tuple[float, str]] = []
        self._next_sweep = float("-inf")
        # What changed since the state store last saved: group keys (group + log entry), fingerprints.
        self.dirty: set[str] = set()
        self.dirty_fps: set[str] = set()

    # --- input ----------------------------------------------------------------------------
    def on_alert(self, alert: Alert, now: float) -> list[Decision]:
        """Take one alert at event time `now`; returns decisions that became due."""
        # Timers that fell due before this alert arrived fire first, at their own due times.
        out = self.tick(now)
        now = self.now
        classification = self.classifier.classify(alert)
        self._track_activation(alert, now)
        self.inhibitor.observe(alert, now)
        for route in self.route.match(alert.labels):
            key = route.group_key(alert.labels)
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = Group(key, route)
                self._schedule(group, now + route.options.group_wait)
            group.alerts[alert.fingerprint] = (alert, classification)
            # Alertmanager flushes at once when the alert's own group_wait has already passed.
            if not group.flushed and alert.starts_at + route.options.group_wait <= now < group.next_flush:
                self._schedule(group, now)
            self.dirty.add(key)
        return out + self.tick(now)

    def tick(self, now: float) -> list[Decision]:
        """Run every group timer due by `now`, each at its due time; returns the decisions made.

        Flushing at the due time (not at `now`) makes an offline replay, which ticks only when
        the next alert arrives, decide exactly what a live router ticking every second would.
        """
        now = self._advance(now)
        out: list[Decision] = []
        while self._timers and self._timers[0][0] <= now:
            due, key = heapq.heappop(self._timers)
            group = self.groups.get(key)
            if group is not None and group.next_flush == due:
                out.extend(self._flush(group, due))
        if now >= self._next_sweep:
            self._sweep(now)
        return out

    def next_due(self) -> float | None:
        """When the earliest group timer fires (None: no timer), skipping superseded entries."""
        while self._timers:
            due, key = self._timers[0]
            group = self.groups.get(key)
            if group is not None and group.next_flush == due:
                return due
            heapq.heappop(self._timers)
        return None

    # --- internals --------------------------------------------------------------------------
    def _advance(self, now: float) -> float:
        self.now = max(self.now, now)
        return self.now

    def _schedule(self, group: Group, at: float) -> None:
        group.next_flush = at
        heapq.heappush(self._timers, (at, group.key))

    def restore_group(self, group: Group) -> None:
        """Adopt a group loaded from the state store, with its timer."""
        self.groups[group.key] = group
        self._schedule(group, group.next_flush)

    def _track_activation(self, alert: Alert, now: float) -> None:
        if alert.resolved_at(now):
            return
        starts = self.activations.setdefault(alert.fingerprint, [])
        if not starts or starts[-1] != alert.starts_at:
            starts.append(alert.starts_at)
            del starts[: -self.suppression.flap_threshold]  # only the last N starts matter
            self.dirty_fps.add(alert.fingerprint)

    def is_flapping(self, fingerprint: str, now: float) -> bool:
        """True when the alert started at least `flap_threshold` times within `flap_window`."""
        starts = self.activations.get(fingerprint, ())
        recent = sum(1 for s in starts if s > now - self.suppression.flap_window)
        return recent >= self.suppression.flap_threshold

    def _muted(self, alert: Alert, now: float) -> tuple[str, str] | None:
        silence = self.silences.muted_by(alert.labels, now)
        if silence is not None:
            return "silenced", f"silence:{silence}"
        rule = self.inhibitor.muted_by(alert.labels, now)
        if rule is not None:
            return "inhibited", f"inhibit:{rule}"
        if self.is_flapping(alert.fingerprint, now):
            return "flapping", "flap-detection"
        return None

    def _suppressed(self, group: Group, item: tuple[Alert, Classification], muted: tuple[str, str],
                    now: float) -> list[Decision]:
        alert = item[0]
        reason, rule = muted
        if self.noted.get(alert.fingerprint) == alert.starts_at:
            return []  # this episode was already reported (maybe in a group since deleted)
        self.noted[alert.fingerprint] = alert.starts_at
        self.dirty_fps.add(alert.fingerprint)
        ident = short_hash(f"{alert.fingerprint}|{alert.starts_at}|{reason}")
        return [self._decision(group, now, id=ident, decision="suppressed", reason=reason, rule=rule,
                               status="firing", alerts=[item])]

    def _flush(self, group: Group, now: float) -> list[Decision]:
        opts = group.route.options
        entry = self.nflog.get(group.key)
        notified = entry.firing if entry is not None else frozenset()
        window = self.suppression.transient_window
        out: list[Decision] = []
        firing: dict[str, tuple[Alert, Classification]] = {}
        resolved: dict[str, tuple[Alert, Classification]] = {}
        pending: list[float] = []
        for fp, (alert, cls) in list(group.alerts.items()):
            if alert.resolved_at(now):
                if fp in notified:
                    resolved[fp] = (alert, cls)
                    continue
                ended = alert.ends_at if alert.ends_at is not None else now
                if ended - alert.starts_at < window:
                    out += self._suppressed(group, (alert, cls), ("transient", "transient-window"), now)
                del group.alerts[fp]
                continue
            muted = self._muted(alert, now)
            if muted is not None:
                out += self._suppressed(group, (alert, cls), muted, now)
            elif fp not in notified and now - alert.starts_at < window:
                pending.append(alert.starts_at + window)
            else:
                firing[fp] = (alert, cls)
        if (firing or resolved) and needs_update(entry, set(firing), set(resolved), now=now,
                                                 repeat_interval=opts.repeat_interval,
                                                 send_resolved=opts.send_resolved):
            out += self._notify(group, entry, firing, resolved, now)
        for fp in resolved:
            del group.alerts[fp]
        group.flushed = True
        self.dirty.add(group.key)
        if not group.alerts:
            del self.groups[group.key]
            return out
        nxt = now + opts.group_interval
        current = self.nflog.get(group.key)
        if pending and (current is None or not current.firing):
            # Nothing notified yet: check again as soon as the oldest held alert leaves the
            # transient window rather than a whole group_interval later.
            nxt = min(nxt, *pending)
        self._schedule(group, nxt)
        return out

    def _notify(self, group: Group, entry: NotifyEntry | None, firing: dict[str, AlertItem],
                resolved: dict[str, AlertItem], now: float) -> list[Decision]:
        seq = (entry.seq if entry is not None else 0) + 1
        ident = f"{short_hash(group.key)}-{seq}"
        if firing:
            items = sorted(firing.items())
            paging = [c for _, (_, c) in items if c.page]
            lead = paging[0] if paging else items[0][1][1]
            kind = "page" if paging else "ticket"
            new_incident = entry is None or not entry.firing
            incident = ident if new_incident else entry.incident  # type: ignore[union-attr]
            reason, rule, status = lead.reason, lead.rule, "firing"
            actionable = any(c.actionable for c in paging)
        else:
            assert entry is not None  # needs_update never notifies "all resolved" without an entry
            kind, incident, rule, status = entry.decision, entry.incident, entry.rule, "resolved"
            reason, actionable = f"resolved: {entry.reason}", False
        self.nflog[group.key] = NotifyEntry(seq, frozenset(firing), frozenset(resolved), now,
                                            incident, kind, rule, reason)
        if status == "resolved" and not group.route.options.send_resolved:
            return []
        alerts = [v for _, v in sorted(firing.items())] + [v for _, v in sorted(resolved.items())]
        return [self._decision(group, now, id=ident, decision=kind, reason=reason, rule=rule,
                               status=status, alerts=alerts, seq=seq, incident_id=incident,
                               actionable=actionable)]

    def _decision(self, group: Group, now: float, **fields: Any) -> Decision:
        shift = self.schedule.shift_at(now) if self.schedule is not None else None
        return Decision(group_key=group.key, receiver=group.route.options.receiver, at=now,
                        oncall=shift.oncall if shift else None, shift_id=shift.id if shift else None,
                        **fields)

    def _sweep(self, now: float) -> None:
        """Forget activation histories and notification-log entries nobody needs any more."""
        horizon = now - self.suppression.flap_window
        for fp in [fp for fp, starts in self.activations.items() if starts[-1] <= horizon]:
            del self.activations[fp]
            self.dirty_fps.add(fp)
        for fp in [fp for fp, start in self.noted.items() if start < now - NFLOG_RETENTION_S]:
            del self.noted[fp]
            self.dirty_fps.add(fp)
        for key in [k for k, e in self.nflog.items()
                    if k not in self.groups and e.at < now - NFLOG_RETENTION_S]:
            del self.nflog[key]
            self.dirty.add(key)
        self.inhibitor.forget_resolved(now)
        self._next_sweep = now + max(60.0, self.suppression.flap_window / 4)
