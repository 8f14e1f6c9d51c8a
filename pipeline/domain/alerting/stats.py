"""Paging statistics per on-call shift (DESIGN.md §5; issue: fewer than 2 incidents per 12 h).

Per shift: pages; incidents (pages sharing an incident id count once; an incident paging in two
shifts counts in both); night pages (local time 22:00–08:00 in the on-call person's zone,
start inclusive); non-actionable pages; suppressed alerts by reason; tickets. A shift is over
target when incidents >= 2 x (shift length / 12 h), compared exactly with fractions; the first
time a shift goes over, a meta-alert `OncallLoadOverTarget` is produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from pipeline.domain.alerting.decision import Decision
from pipeline.domain.alerting.model import Alert, format_rfc3339, parse_rfc3339
from pipeline.domain.alerting.schedule import Schedule, Shift
from pipeline.errors import ValidationError

SCHEMA = "oncall_stats/v1"
TARGET_INCIDENTS = 2
TARGET_PERIOD_S = 12 * 3600
NIGHT_START_HOUR = 22
NIGHT_END_HOUR = 8
META_ALERTNAME = "OncallLoadOverTarget"
# Figures of this many shifts stay in memory (a month of 12 h shifts with room to spare);
# older ones live on in oncall.stats and Redis.
MAX_SHIFTS_KEPT = 256


@dataclass(frozen=True, slots=True)
class PageRecord:
    """One page as `obspipe oncall stats` reads it."""

    id: str
    at: float
    service: str = ""
    actionable: bool = True
    incident_id: str | None = None


def page_from_json(obj: object) -> PageRecord:
    """A PageRecord from `{"id", "at", "service", "actionable", "incident_id"?}`.

    Raises:
        ValidationError: a field is missing or malformed, naming it.
    """
    if not isinstance(obj, Mapping):
        raise ValidationError("page: expected an object", field="page")
    if not isinstance(obj.get("id"), str | int) or obj.get("id") == "":
        raise ValidationError("id: required", field="id")
    at = parse_rfc3339(obj.get("at"), "at")
    if at is None:
        raise ValidationError("at: required RFC 3339 time", field="at")
    actionable = obj.get("actionable", True)
    if not isinstance(actionable, bool):
        raise ValidationError("actionable: expected true or false", field="actionable")
    incident = obj.get("incident_id")
    return PageRecord(str(obj["id"]), at, str(obj.get("service") or ""), actionable,
                      None if incident in (None, "") else str(incident))


def is_night(t: float, schedule: Schedule, person: str) -> bool:
    """True when `t` falls between 22:00 and 08:00 in the person's time zone."""
    hour = datetime.fromtimestamp(t, schedule.zone_of(person)).hour
    return hour >= NIGHT_START_HOUR or hour < NIGHT_END_HOUR


@dataclass(slots=True)
class ShiftStats:
    """Running figures for one shift."""

    shift: Shift
    pages: int = 0
    night_pages: int = 0
    non_actionable: int = 0
    tickets: int = 0
    incidents: set[str] = field(default_factory=set)
    suppressed: dict[str, int] = field(default_factory=dict)
    page_ids: set[str] = field(default_factory=set)
    meta_alert_sent: bool = False

    @property
    def over_target(self) -> bool:
        """incidents >= 2 per 12 h, scaled to the shift's length (exact arithmetic)."""
        allowed = Fraction(TARGET_INCIDENTS) * Fraction(self.shift.length) / TARGET_PERIOD_S
        return len(self.incidents) >= allowed

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "shift_id": self.shift.id,
            "oncall": self.shift.oncall,
            "start": format_rfc3339(self.shift.start),
            "end": format_rfc3339(self.shift.end),
            "pages": self.pages,
            "incidents": len(self.incidents),
            "night_pages": self.night_pages,
            "non_actionable": self.non_actionable,
            "non_actionable_ratio": round(self.non_actionable / self.pages, 4) if self.pages else 0.0,
            "suppressed": dict(sorted(self.suppressed.items())),
            "tickets": self.tickets,
            "over_target": self.over_target,
        }


class PagingStats:
    """Assigns pages and decisions to shifts and keeps each shift's figures."""

    def __init__(self, schedule: Schedule, max_shifts: int | None = MAX_SHIFTS_KEPT) -> None:
        self.schedule = schedule
        self.max_shifts = max_shifts
        self.by_shift: dict[str, ShiftStats] = {}
        self.outside: list[PageRecord] = []

    def _stats_at(self, t: float) -> ShiftStats | None:
        shift = self.schedule.shift_at(t)
        if shift is None:
            return None
        stats = self.by_shift.get(shift.id)
        if stats is None:
            stats = self.by_shift[shift.id] = ShiftStats(shift)
            if self.max_shifts is not None and len(self.by_shift) > self.max_shifts:
                # A long-running router forgets the oldest shift.
                oldest = min(self.by_shift.values(), key=lambda s: s.shift.start)
                del self.by_shift[oldest.shift.id]
        return stats

    def add_page(self, page: PageRecord) -> ShiftStats | None:
        """Count one page in its shift; pages outside every shift go to `outside`. Re-adding a page
        with the same id changes nothing (inputs may be replayed)."""
        stats = self._stats_at(page.at)
        if stats is None:
            self.outside.append(page)
            return None
        if page.id in stats.page_ids:
            return stats
        stats.page_ids.add(page.id)
        stats.pages += 1
        stats.incidents.add(page.incident_id or f"page:{page.id}")
        stats.night_pages += is_night(page.at, self.schedule, stats.shift.oncall)
        stats.non_actionable += not page.actionable
        return stats

    def add_decision(self, decision: Decision) -> tuple[ShiftStats | None, Alert | None]:
        """Count a router decision; returns the shift's stats and a meta-alert the first time the
        shift goes over target."""
        if decision.is_page:
            stats = self.add_page(PageRecord(decision.id, decision.at, decision.group_key,
                                             decision.actionable, decision.incident_id or None))
        else:
            stats = self._stats_at(decision.at)
            if stats is not None and decision.status == "firing":
                if decision.decision == "suppressed":
                    stats.suppressed[decision.reason] = stats.suppressed.get(decision.reason, 0) + 1
                elif decision.decision == "ticket":
                    stats.tickets += 1
        if stats is None or stats.meta_alert_sent or not stats.over_target:
            return stats, None
        stats.meta_alert_sent = True
        return stats, meta_alert(stats, decision.at)


def meta_alert(stats: ShiftStats, at: float) -> Alert:
    """The alert raised when a shift goes over the paging target."""
    shift = stats.shift
    return Alert(
        labels={"alertname": META_ALERTNAME, "shift_id": shift.id, "oncall": shift.oncall,
                "severity": "ticket", "service": "obspipe"},
        annotations={"summary": f"{len(stats.incidents)} incidents in shift {shift.id} of {shift.oncall} "
                                f"(target: fewer than {TARGET_INCIDENTS} per 12 h)"},
        starts_at=at,
        ends_at=shift.end,
    )
