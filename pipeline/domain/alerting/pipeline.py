"""Router plus paging statistics: what the stream app and `obspipe alerts replay` both run.

Each decision is counted in its shift; the first time a shift goes over target, the meta-alert
`OncallLoadOverTarget` is routed like any other alert (by default it becomes a ticket).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.domain.alerting.decision import Decision
from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.router import AlertRouter
from pipeline.domain.alerting.stats import PagingStats, ShiftStats


@dataclass(slots=True)
class Outputs:
    """Decisions made and the shifts whose figures changed, in order."""

    decisions: list[Decision] = field(default_factory=list)
    shifts: dict[str, ShiftStats] = field(default_factory=dict)

    def extend(self, other: Outputs) -> None:
        self.decisions += other.decisions
        self.shifts.update(other.shifts)


class AlertPipeline:
    """Feeds alerts and ticks through the router and counts the decisions per shift."""

    def __init__(self, router: AlertRouter, stats: PagingStats | None = None) -> None:
        self.router = router
        self.stats = stats

    def on_alert(self, alert: Alert, now: float) -> Outputs:
        out = self.tick(now)
        out.extend(self._count(self.router.on_alert(alert, now)))
        return out

    def tick(self, now: float) -> Outputs:
        """Fire due timers one due time at a time, so that a meta-alert raised by a decision enters
        the router at that decision's time, not at `now`."""
        out = Outputs()
        due = self.router.next_due()
        while due is not None and due <= now:
            out.extend(self._count(self.router.tick(due)))
            due = self.router.next_due()
        out.extend(self._count(self.router.tick(now)))
        return out

    def _count(self, decisions: list[Decision]) -> Outputs:
        out = Outputs(decisions)
        if self.stats is None:
            return out
        meta: list[Alert] = []
        for d in decisions:
            shift_stats, alert = self.stats.add_decision(d)
            if shift_stats is not None:
                out.shifts[shift_stats.shift.id] = shift_stats
            if alert is not None:
                meta.append(alert)
        for alert in meta:
            out.extend(self.on_alert(alert, alert.starts_at))
        return out
