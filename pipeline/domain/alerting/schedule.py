"""On-call schedules: explicit shifts and rotations, in the participants' time zones.

A schedule (YAML) holds `timezones` (person -> IANA zone), explicit `shifts`
(`id`, `start`, `end`, `oncall`) and/or `rotations` (`id`, `participants`, `shift_length`,
`handoff` "HH:MM", `time_zone`, `start` date of the first handoff, optional `end`). Shifts are
half-open intervals [start, end): a page exactly at a handoff belongs to the incoming shift.
Explicit shifts take precedence over rotations (they are how overrides are written).
Rotation handoffs are wall-clock times in the rotation's zone, so across a DST change the
handoff stays at e.g. 09:00 local and that one shift is an hour shorter or longer.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.domain.alerting.routing import parse_duration
from pipeline.errors import ConfigError

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift: who is on call over [start, end) (epoch seconds)."""

    id: str
    oncall: str
    start: float
    end: float

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def length(self) -> float:
        return self.end - self.start


def _zone(name: object, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown IANA time zone {name!r}") from None


def _instant(value: object, zone: ZoneInfo, where: str) -> float:
    """An instant from an RFC 3339 string or a YAML datetime; naive values are in `zone`."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(f"{where}: not an RFC 3339 date-time: {value!r}") from None
    else:
        raise ConfigError(f"{where}: expected a date-time, got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.timestamp()


def _handoff(value: object, where: str) -> time:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 09:00 as sexagesimal minutes (540)
        value = f"{value // 60:02d}:{value % 60:02d}"
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: expected HH:MM, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Rotation:
    """Participants take turns, each for `shift_length`, starting at a local handoff time."""

    id: str
    participants: tuple[str, ...]
    shift_length: timedelta
    anchor: datetime  # naive local wall-clock time of the first handoff
    zone: ZoneInfo
    end: float | None = None

    def _boundary(self, n: int) -> float:
        return (self.anchor + n * self.shift_length).replace(tzinfo=self.zone).timestamp()

    def _shift(self, n: int) -> Shift:
        local = self.anchor + n * self.shift_length
        start, end = self._boundary(n), self._boundary(n + 1)
        if self.end is not None:
            end = min(end, self.end)
        who = self.participants[n % len(self.participants)]
        return Shift(f"{self.id}/{local:%Y-%m-%dT%H:%M}", who, start, end)

    def index_at(self, t: float) -> int | None:
        """The number of the shift containing `t` (0 = the first), or None outside the rotation."""
        if t < self._boundary(0) or (self.end is not None and t >= self.end):
            return None
        local = datetime.fromtimestamp(t, self.zone).replace(tzinfo=None)
        n = math.floor((local - self.anchor) / self.shift_length)
        # Wall-clock arithmetic can be off by one next to a DST jump; settle on the true interval.
        while n > 0 and t < self._boundary(n):
            n -= 1
        while t >= self._boundary(n + 1):
            n += 1
        return n

    def shift_at(self, t: float) -> Shift | None:
        n = self.index_at(t)
        return None if n is None else self._shift(n)

    def shifts_between(self, start: float, end: float) -> Iterator[Shift]:
        """Every shift of the rotation overlapping [start, end)."""
        first = self.index_at(max(start, self._boundary(0)))
        if first is None:
            return
        n = first
        while True:
            shift = self._shift(n)
            if shift.start >= end or shift.start >= shift.end:
                return
            yield shift
            n += 1


class Schedule:
    """Explicit shifts (checked first) and rotations; `shift_at(t)` finds who is on call."""

    def __init__(self, timezones: Mapping[str, ZoneInfo], shifts: list[Shift],
                 rotations: list[Rotation]) -> None:
        self.timezones = dict(timezones)
        self.shifts = sorted(shifts, key=lambda s: s.start)
        self._starts = [s.start for s in self.shifts]
        self.rotations = rotations

    def zone_of(self, person: str) -> ZoneInfo:
        """The person's time zone (UTC when the schedule does not name one)."""
        return self.timezones.get(person, UTC_ZONE)

    def shift_at(self, t: float) -> Shift | None:
        """The shift containing instant `t`, or None when nobody is scheduled."""
        i = bisect.bisect_right(self._starts, t) - 1
        # Explicit shifts may overlap; scan back over those that started earlier.
        while i >= 0:
            if self.shifts[i].contains(t):
                return self.shifts[i]
            i -= 1
        for rotation in self.rotations:
            shift = rotation.shift_at(t)
            if shift is not None:
                return shift
        return None

    def shift_by_id(self, shift_id: str, near: float) -> Shift | None:
        """Find a shift by id (rotation shifts are found around the instant `near`)."""
        for s in self.shifts:
            if s.id == shift_id:
                return s
        shift = self.shift_at(near)
        return shift if shift is not None and shift.id == shift_id else None


def build_schedule(doc: Mapping[str, Any] | None) -> Schedule:
    """A schedule from its parsed YAML document.

    Raises:
        ConfigError: one line naming the bad entry (e.g. `shifts[2].end`).
    """
    if not isinstance(doc, Mapping):
        raise ConfigError("schedule: expected a mapping with timezones, shifts and/or rotations")
    unknown = set(doc) - {"timezones", "shifts", "rotations"}
    if unknown:
        raise ConfigError(f"schedule: unknown key(s) {sorted(unknown)}; "
                          "allowed: timezones, shifts, rotations")
    zones = {str(p): _zone(z, f"timezones.{p}") for p, z in (doc.get("timezones") or {}).items()}
    shifts: list[Shift] = []
    for i, node in enumerate(doc.get("shifts") or []):
        where = f"shifts[{i}]"
        if not isinstance(node, Mapping) or not {"id", "start", "end", "oncall"} <= set(node):
            raise ConfigError(f"{where}: needs id, start, end and oncall")
        who = str(node["oncall"])
        zone = zones.get(who, UTC_ZONE)
        start = _instant(node["start"], zone, f"{where}.start")
        end = _instant(node["end"], zone, f"{where}.end")
        if end <= start:
            raise ConfigError(f"{where}.end: must be after start")
        shifts.append(Shift(str(node["id"]), who, start, end))
    rotations: list[Rotation] = []
    for i, node in enumerate(doc.get("rotations") or []):
        where = f"rotations[{i}]"
        if not isinstance(node, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        missing = {"id", "participants", "shift_length", "handoff", "start"} - set(node)
        if missing:
            raise ConfigError(f"{where}: missing {sorted(missing)}")
        people = node["participants"]
        if not isinstance(people, list) or not people:
            raise ConfigError(f"{where}.participants: expected a non-empty list")
        zone = _zone(node.get("time_zone", "UTC"), f"{where}.time_zone")
        length = parse_duration(node["shift_length"], f"{where}.shift_length")
        if length < 60:
            raise ConfigError(f"{where}.shift_length: must be at least 1m")
        first = node["start"]
        if isinstance(first, str):
            try:
                first = date.fromisoformat(first)
            except ValueError:
                raise ConfigError(f"{where}.start: expected a date YYYY-MM-DD") from None
        if not isinstance(first, date) or isinstance(first, datetime):
            raise ConfigError(f"{where}.start: expected a date YYYY-MM-DD")
        anchor = datetime.combine(first, _handoff(node["handoff"], f"{where}.handoff"))
        until = _instant(node["end"], zone, f"{where}.end") if node.get("end") is not None else None
        rotations.append(Rotation(str(node["id"]), tuple(str(p) for p in people),
                                  timedelta(seconds=length), anchor, zone, until))
    if not shifts and not rotations:
        raise ConfigError("schedule: no shifts and no rotations")
    return Schedule(zones, shifts, rotations)
