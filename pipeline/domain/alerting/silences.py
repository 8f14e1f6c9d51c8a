"""Silences: pure matching. Storage (Redis) and the `obspipe silence` commands are adapters.

As in Alertmanager, a silence mutes an alert while it is active (`startsAt <= now < endsAt`)
and all of its matchers match the alert's labels; regexes are fully anchored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.domain.alerting.fingerprint import short_hash
from pipeline.domain.alerting.matchers import Matcher, all_match, format_matchers, parse_matchers
from pipeline.domain.alerting.model import format_rfc3339, parse_rfc3339
from pipeline.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence: matchers, an active interval, who made it and why."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: float) -> str:
        """`pending`, `active` or `expired`, like Alertmanager's silence states."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all_match(self.matchers, labels)

    def expired_copy(self, now: float) -> Silence:
        """The same silence ending at `now` (expiring a pending silence makes it end at its start)."""
        end = max(self.starts_at, min(self.ends_at, now))
        return Silence(self.id, self.matchers, self.starts_at, end, self.created_by, self.comment)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "matchers": format_matchers(self.matchers),
            "startsAt": format_rfc3339(self.starts_at),
            "endsAt": format_rfc3339(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }
        if now is not None:
            out["status"] = {"state": self.state(now)}
        return out


def new_silence(matchers: str | Iterable[str], starts_at: float, ends_at: float,
                created_by: str = "", comment: str = "") -> Silence:
    """A new silence with an id derived from its content (re-adding the same silence is idempotent).

    Raises:
        ConfigError: no matchers, a bad matcher, or an end not after the start.
    """
    parsed = parse_matchers(matchers)
    if not parsed:
        raise ConfigError("silence: at least one matcher is required")
    if all(m.matches({}) for m in parsed):
        raise ConfigError("silence: the matchers match every alert (at least one must need a label)")
    if ends_at <= starts_at:
        raise ConfigError("silence: endsAt must be after startsAt")
    ident = short_hash(f"{format_matchers(parsed)}|{starts_at}|{ends_at}|{created_by}|{comment}")
    return Silence(ident, parsed, starts_at, ends_at, created_by, comment)


def silence_from_json(obj: Mapping[str, Any]) -> Silence:
    """The inverse of `Silence.to_json` (used by the Redis store)."""
    starts = parse_rfc3339(obj.get("startsAt"), "startsAt")
    ends = parse_rfc3339(obj.get("endsAt"), "endsAt")
    if starts is None or ends is None:
        raise ConfigError("silence: startsAt and endsAt are required")
    return Silence(str(obj["id"]), parse_matchers(str(obj["matchers"])), starts, ends,
                   str(obj.get("createdBy", "")), str(obj.get("comment", "")))


class SilenceSet:
    """The silences the router consults; replaced wholesale when the store is re-read."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self.by_id: dict[str, Silence] = {s.id: s for s in silences}

    def put(self, silence: Silence) -> None:
        self.by_id[silence.id] = silence

    def replace_all(self, silences: Iterable[Silence]) -> None:
        self.by_id = {s.id: s for s in silences}

    def muted_by(self, labels: Mapping[str, str], now: float) -> str | None:
        """The id of an active silence matching the labels, or None."""
        for s in self.by_id.values():
            if s.mutes(labels, now):
                return s.id
        return None
