"""The dashboard's bounded in-memory views of the output topics.

Pure: records come in as decoded values with their Kafka timestamp; nothing here does I/O or
reads the clock, so the views are tested without a broker. Every view has a size bound (the
dashboard may run for weeks next to a busy pipeline), and a record that does not fit its topic's
shape (DESIGN.md §3) is counted as rejected with its reason instead of breaking the view.

`drain()` hands the server what changed since the last call, coalesced: each new page is an
event of its own (the live list), while traces, SLOs, shifts, DLQ and health are sent as their
latest view at most once per drain, so a burst of 1,000 traces costs the browser one update.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import orjson

from pipeline.errors import DecodeError, RecordError, ValidationError

Kind = Literal["traces", "pages", "slo", "shifts", "dlq"]
KINDS: tuple[Kind, ...] = ("traces", "pages", "slo", "shifts", "dlq")
Event = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class ViewLimits:
    """Size bounds of the views (memory stays flat whatever the pipeline's rate)."""

    pages: int = 200  # live pages kept, newest first
    traces: int = 500  # full assembled traces kept for the waterfall
    trace_spans: int = 200_000  # ... and their spans in total (~100 MB at worst)
    trace_list: int = 25  # rows in each of recent / slow / error lists
    shifts: int = 60  # on-call shifts (about a month of 12 h shifts)
    slo_history: int = 360  # points per SLO chart (an hour at one status per 10 s)
    dlq_recent: int = 20  # dead letters listed


def _num(value: Any) -> float | None:
    """A number for display: floats, ints, and exact values serialised as "a/b" or "1.25"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Fraction(value))
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _require_dict(value: Any, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{kind}: expected a JSON object, got {type(value).__name__}")
    return value


def _sub(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of a record, or {} when absent or not an object."""
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def _require(record: dict[str, Any], kind: str, *names: str) -> None:
    missing = [n for n in names if n not in record]
    if missing:
        raise ValidationError(f"{kind}: missing field {missing[0]!r}", field=missing[0])


@dataclass(slots=True)
class SloView:
    """Latest status of one SLO plus the history drawn in its chart."""

    latest: dict[str, Any]
    history: deque[dict[str, Any]]


@dataclass
class DashboardState:
    """Everything the dashboard shows, fed one record at a time."""

    limits: ViewLimits = field(default_factory=ViewLimits)
    pages: deque[dict[str, Any]] = field(init=False)
    page_counts: dict[str, int] = field(default_factory=dict)
    shifts: dict[str, dict[str, Any]] = field(default_factory=dict)
    slos: dict[str, SloView] = field(default_factory=dict)
    traces: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    dlq_total: int = 0
    dlq_by_reason: dict[str, int] = field(default_factory=dict)
    dlq_recent: deque[dict[str, Any]] = field(init=False)
    records_seen: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    last_rejection: str | None = None
    health: dict[str, Any] = field(default_factory=dict)
    _trace_spans: int = 0
    _new_pages: list[dict[str, Any]] = field(default_factory=list)
    _dirty: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.pages = deque(maxlen=self.limits.pages)
        self.dlq_recent = deque(maxlen=self.limits.dlq_recent)

    # --- input ------------------------------------------------------------------------------
    def ingest(self, kind: Kind, raw: bytes | None, ts_ms: int | None) -> bool:
        """Decode and apply one Kafka record value; a bad record is counted, never raised.

        Returns:
            True if the record was applied, False if it was rejected.
        """
        try:
            if raw is None:
                raise DecodeError(f"{kind}: empty record value (tombstone)")
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise DecodeError(f"{kind}: not JSON ({exc})") from None
            self.apply(kind, value, ts_ms)
        except RecordError as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            self.last_rejection = str(exc)
            self._dirty.add("health")
            return False
        self.records_seen[kind] = self.records_seen.get(kind, 0) + 1
        self._dirty.add("health")  # its record counts changed
        return True

    def apply(self, kind: Kind, value: Any, ts_ms: int | None) -> None:
        """Apply one decoded record of topic `kind`; `ts_ms` is its Kafka timestamp.

        Raises:
            ValidationError: the record lacks the fields the view needs.
        """
        record = _require_dict(value, kind)
        if kind == "pages":
            self._apply_page(record, ts_ms)
        elif kind == "slo":
            self._apply_slo(record, ts_ms)
        elif kind == "shifts":
            self._apply_shift(record)
        elif kind == "traces":
            self._apply_trace(record)
        elif kind == "dlq":
            self._apply_dlq(record, ts_ms)
        else:
            raise ValidationError(f"unknown topic kind {kind!r}")

    def set_health(self, **parts: Any) -> None:
        """Update parts of the pipeline-health view (e.g. `lag=rows`, `feed=status`)."""
        if any(self.health.get(k) != v for k, v in parts.items()):
            self.health = {**self.health, **parts}
            self._dirty.add("health")

    # --- per topic ----------------------------------------------------------------------------
    def _apply_page(self, record: dict[str, Any], ts_ms: int | None) -> None:
        _require(record, "alerts.pages", "decision", "reason")
        alerts = record.get("alerts") or []
        if not isinstance(alerts, list):
            raise ValidationError("alerts.pages: 'alerts' must be a list", field="alerts")
        first: dict[str, Any] = next((a for a in alerts if isinstance(a, dict)), {})
        labels = _sub(first, "labels")
        annotations = _sub(first, "annotations")
        decision = str(record["decision"])
        page = {
            "decision": decision,
            "reason": str(record["reason"]),
            "group_key": record.get("group_key"),
            "oncall": record.get("oncall"),
            "shift_id": record.get("shift_id"),
            "at": record.get("at"),
            "ts_ms": ts_ms,
            "alertname": labels.get("alertname"),
            "service": labels.get("service"),
            "status": record.get("status") or first.get("status"),
            "rule": record.get("rule"),
            "summary": annotations.get("summary") or annotations.get("description"),
            "alert_count": len(alerts),
        }
        self.pages.appendleft(page)
        # A resolved notification closes a page; it is not another one.
        counted = "resolved" if page["status"] == "resolved" else decision
        self.page_counts[counted] = self.page_counts.get(counted, 0) + 1
        self._new_pages.append(page)

    def _apply_slo(self, record: dict[str, Any], ts_ms: int | None) -> None:
        _require(record, "slo.status", "slo", "burn_rates", "budget_remaining")
        burn = record["burn_rates"]
        if not isinstance(burn, dict):
            raise ValidationError("slo.status: 'burn_rates' must be an object", field="burn_rates")
        name = str(record["slo"])
        point = {
            "t": _event_time_ms(record, ts_ms),
            "burn_rates": {str(w): _num(v) for w, v in burn.items()},
            "budget_remaining": _num(record["budget_remaining"]),
        }
        latest = {
            "slo": name,
            "objective": _num(record.get("objective")),
            "period": record.get("period"),
            "policy_tier": record.get("policy_tier"),
            "firing": record.get("firing") or [],
            **point,
        }
        view = self.slos.get(name)
        if view is None:
            view = self.slos[name] = SloView(latest, deque(maxlen=self.limits.slo_history))
        view.latest = latest
        view.history.append(point)
        self._dirty.add("slos")

    def _apply_shift(self, record: dict[str, Any]) -> None:
        _require(record, "oncall.stats", "shift_id", "pages")
        shift_id = str(record["shift_id"])
        self.shifts[shift_id] = {
            "shift_id": shift_id,
            "oncall": record.get("oncall"),
            "start": record.get("start"),
            "end": record.get("end"),
            "pages": _num(record.get("pages")) or 0,
            "night_pages": _num(record.get("night_pages")) or 0,
            "suppressed": record.get("suppressed") or {},
            "non_actionable_ratio": _num(record.get("non_actionable_ratio")),
            "over_target": bool(record.get("over_target")),
        }
        if len(self.shifts) > self.limits.shifts:
            oldest = min(self.shifts.values(), key=lambda s: str(s["start"]))
            del self.shifts[oldest["shift_id"]]
        self._dirty.add("shifts")

    def _apply_trace(self, record: dict[str, Any]) -> None:
        _require(record, "traces.assembled", "trace_id", "spans", "summary")
        if not isinstance(record["spans"], list) or not isinstance(record["summary"], dict):
            raise ValidationError("traces.assembled: 'spans' must be a list and 'summary' an object")
        trace_id = str(record["trace_id"])
        revision = record.get("revision", 1)
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise ValidationError("traces.assembled: 'revision' must be an integer", field="revision")
        old = self.traces.get(trace_id)
        if old is not None:
            if old.get("revision", 1) >= revision:
                return  # a duplicate after a replay, or an older revision arriving late
            self._trace_spans -= len(old["spans"])
            del self.traces[trace_id]
        self.traces[trace_id] = record
        self._trace_spans += len(record["spans"])
        while self.traces and (
            len(self.traces) > self.limits.traces or self._trace_spans > self.limits.trace_spans
        ):
            _, evicted = self.traces.popitem(last=False)
            self._trace_spans -= len(evicted["spans"])
        self._dirty.add("traces")

    def _apply_dlq(self, record: dict[str, Any], ts_ms: int | None) -> None:
        _require(record, "obspipe.dlq", "reason")
        reason = str(record["reason"])
        self.dlq_total += 1
        self.dlq_by_reason[reason] = self.dlq_by_reason.get(reason, 0) + 1
        source = _sub(record, "source")
        self.dlq_recent.appendleft(
            {
                "reason": reason,
                "error": str(record.get("error", ""))[:300],
                "source": f"{source.get('topic')}[{source.get('partition')}]@{source.get('offset')}",
                "received_at": record.get("received_at"),
                "ts_ms": ts_ms,
            }
        )
        self._dirty.add("dlq")

    # --- output -------------------------------------------------------------------------------
    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The full assembled trace (latest revision held), or None if not held."""
        return self.traces.get(trace_id)

    def trace_lists(self) -> dict[str, list[dict[str, Any]]]:
        """Recent, slowest and error traces as summaries, newest or slowest first."""
        n = self.limits.trace_list
        held = list(self.traces.values())
        recent = held[::-1][:n]
        slow = heapq.nlargest(n, held, key=lambda t: t["summary"].get("duration_ns") or 0)
        errors = [t for t in reversed(held) if t["summary"].get("error_count")][:n]
        return {
            "recent": [trace_summary(t) for t in recent],
            "slow": [trace_summary(t) for t in slow],
            "errors": [trace_summary(t) for t in errors],
        }

    def shift_list(self) -> list[dict[str, Any]]:
        return sorted(self.shifts.values(), key=lambda s: str(s["start"]))

    def slo_list(self) -> list[dict[str, Any]]:
        return [{**v.latest, "history": list(v.history)} for _, v in sorted(self.slos.items())]

    def dlq_view(self) -> dict[str, Any]:
        return {"total": self.dlq_total, "by_reason": self.dlq_by_reason, "recent": list(self.dlq_recent)}

    def health_view(self) -> dict[str, Any]:
        return {
            **self.health,
            "records_seen": self.records_seen,
            "rejected": self.rejected,
            "last_rejection": self.last_rejection,
            "traces_held": len(self.traces),
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole state as the browser needs it on (re)connection."""
        return {
            "pages": list(self.pages),
            "page_counts": self.page_counts,
            "shifts": self.shift_list(),
            "slos": self.slo_list(),
            "traces": self.trace_lists(),
            "dlq": self.dlq_view(),
            "health": self.health_view(),
        }

    def drain(self) -> list[Event]:
        """What changed since the last drain, as (event name, data) pairs; resets the changes."""
        events: list[Event] = [("page", p) for p in self._new_pages]
        if self._new_pages:
            events.append(("page_counts", self.page_counts))
        views = {
            "slos": self.slo_list,
            "shifts": self.shift_list,
            "traces": self.trace_lists,
            "dlq": self.dlq_view,
            "health": self.health_view,
        }
        events.extend((name, build()) for name, build in views.items() if name in self._dirty)
        self._new_pages = []
        self._dirty = set()
        return events


def _event_time_ms(record: dict[str, Any], ts_ms: int | None) -> int | None:
    """When a status was computed: its own time field if any, else the Kafka timestamp."""
    for key in ("time_unix_nano", "at_unix_nano", "evaluated_at_unix_nano"):
        value = record.get(key)
        if isinstance(value, int):
            return value // 1_000_000
    return ts_ms


def trace_summary(trace: dict[str, Any]) -> dict[str, Any]:
    """One row of a trace list: the assembled trace's summary plus its id and revision."""
    summary = trace["summary"]
    return {
        "trace_id": trace["trace_id"],
        "revision": trace.get("revision", 1),
        "root_service": summary.get("root_service"),
        "root_name": summary.get("root_name"),
        "start_time_unix_nano": summary.get("start_time_unix_nano"),
        "duration_ns": summary.get("duration_ns"),
        "span_count": summary.get("span_count", len(trace["spans"])),
        "error_count": summary.get("error_count", 0),
        "complete": trace.get("complete", True),
        "diagnostics": len(trace.get("diagnostics") or []),
        "links": len(trace.get("links") or []) + len(trace.get("linked_from") or []),
    }
