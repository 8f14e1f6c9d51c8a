"""The alert model and its decoder: Alertmanager webhook payloads and single alerts.

Accepted shapes (DESIGN.md §3, `alerts.raw`):
  * a webhook payload `{"version": "4", "alerts": [ {alert}, ... ], ...}`;
  * a single alert `{"labels", "annotations", "status", "startsAt", "endsAt", "generatorURL"?,
    "fingerprint"?, "expr"?}`.
Times are RFC 3339; Alertmanager writes the zero time `0001-01-01T00:00:00Z` for "no end".
Internally times are float seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.domain.alerting.fingerprint import fingerprint as compute_fingerprint
from pipeline.errors import DecodeError, ValidationError

Status = Literal["firing", "resolved"]

# RFC 3339 date-time: fractional seconds of any length, "Z" or a numeric offset.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_ZERO_TIME_YEAR = 1  # Go's zero time.Time, which Alertmanager sends as "no end"
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_LABELS = 128
MAX_VALUE_CHARS = 4096


@dataclass(slots=True)
class Alert:
    """One alert as Alertmanager represents it; `fingerprint` is computed from `labels`."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    status: Status = "firing"
    generator_url: str = ""
    expr: str = ""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = compute_fingerprint(self.labels)

    def resolved_at(self, now: float) -> bool:
        """True when the alert is resolved at event time `now` (explicitly or by its end time)."""
        return self.status == "resolved" or (self.ends_at is not None and self.ends_at <= now)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def to_json(self) -> dict[str, Any]:
        """The alert in Alertmanager's JSON shape (times in RFC 3339, UTC)."""
        out: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "status": self.status,
            "startsAt": format_rfc3339(self.starts_at),
            "endsAt": format_rfc3339(self.ends_at) if self.ends_at is not None else None,
            "fingerprint": self.fingerprint,
        }
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out


def parse_rfc3339(text: object, field_name: str) -> float | None:
    """Parse an RFC 3339 time into epoch seconds; Go's zero time and "" mean None.

    Raises:
        ValidationError: the value is not an RFC 3339 date-time (the message names the field).
    """
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ValidationError(f"{field_name}: expected an RFC 3339 string", field=field_name)
    m = _RFC3339.match(text)
    if m is None:
        raise ValidationError(f"{field_name}: not an RFC 3339 date-time: {text[:40]!r}", field=field_name)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year == _ZERO_TIME_YEAR:
        return None
    frac, zone = m.group(7), m.group(8)
    try:
        base = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError as exc:
        raise ValidationError(f"{field_name}: {exc}", field=field_name) from None
    offset = 0
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return base.timestamp() - offset + (float(frac) if frac else 0.0)


def format_rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 in UTC, with milliseconds only when they are not zero."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _string_map(value: object, field_name: str, *, label_names: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field_name}: expected an object", field=field_name)
    if len(value) > MAX_LABELS:
        raise ValidationError(f"{field_name}: more than {MAX_LABELS} entries", field=field_name)
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or (label_names and not _LABEL_NAME.match(k)):
            raise ValidationError(f"{field_name}: invalid label name {k!r}", field=field_name)
        if not isinstance(v, str):
            raise ValidationError(f"{field_name}.{k}: expected a string", field=f"{field_name}.{k}")
        if len(v) > MAX_VALUE_CHARS:
            raise ValidationError(f"{field_name}.{k}: longer than {MAX_VALUE_CHARS}",
                                  field=f"{field_name}.{k}")
        out[k] = v
    return out


def alert_from_json(obj: object, *, default_now: float | None = None, where: str = "alert") -> Alert:
    """Build an Alert from one Alertmanager alert object.

    Args:
        obj: the decoded JSON object.
        default_now: start time to use when `startsAt` is missing (e.g. the record's timestamp).
        where: prefix for field names in error messages (e.g. `alerts[3]`).

    Raises:
        ValidationError: a field is missing or malformed; `field` names it.
    """
    if not isinstance(obj, Mapping):
        raise ValidationError(f"{where}: expected an object", field=where)
    labels = _string_map(obj.get("labels"), f"{where}.labels", label_names=True)
    if not labels:
        raise ValidationError(f"{where}.labels: an alert needs at least one label", field=f"{where}.labels")
    annotations = _string_map(obj.get("annotations"), f"{where}.annotations", label_names=False)
    starts = parse_rfc3339(obj.get("startsAt"), f"{where}.startsAt")
    if starts is None:
        if default_now is None:
            raise ValidationError(f"{where}.startsAt: missing", field=f"{where}.startsAt")
        starts = default_now
    ends = parse_rfc3339(obj.get("endsAt"), f"{where}.endsAt")
    status = obj.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise ValidationError(f"{where}.status: must be firing or resolved", field=f"{where}.status")
    if status == "resolved" and ends is None:
        ends = starts
    for key in ("generatorURL", "expr", "fingerprint"):
        if obj.get(key) is not None and not isinstance(obj.get(key), str):
            raise ValidationError(f"{where}.{key}: expected a string", field=f"{where}.{key}")
    # The fingerprint is always recomputed from the labels: a sender's value cannot be trusted to
    # follow the same hash, and routing/dedup must agree across sources.
    return Alert(
        labels=labels,
        annotations=annotations,
        starts_at=starts,
        ends_at=ends,
        status=status,
        generator_url=obj.get("generatorURL") or "",
        expr=obj.get("expr") or "",
    )


def decode_alerts(obj: object, *, default_now: float | None = None) -> list[Alert]:
    """Decode a webhook payload (version 4) or a single alert into alerts.

    Raises:
        DecodeError: the value is neither shape.
        ValidationError: a field is malformed; the message names it.
    """
    if isinstance(obj, Mapping) and "alerts" in obj:
        version = obj.get("version")
        if version is not None and str(version) != "4":
            raise ValidationError(f"version: unsupported webhook version {version!r}", field="version")
        items = obj["alerts"]
        if not isinstance(items, list):
            raise ValidationError("alerts: expected an array", field="alerts")
        return [alert_from_json(a, default_now=default_now, where=f"alerts[{i}]")
                for i, a in enumerate(items)]
    if isinstance(obj, Mapping) and "labels" in obj:
        return [alert_from_json(obj, default_now=default_now)]
    raise DecodeError("not an Alertmanager webhook payload or alert object", field="alerts")
