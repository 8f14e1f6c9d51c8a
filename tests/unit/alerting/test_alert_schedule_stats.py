"""On-call schedules (half-open shifts, rotations, DST) and per-shift paging statistics, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.domain.alerting.schedule import build_schedule
from pipeline.domain.alerting.stats import PageRecord, PagingStats
from pipeline.errors import ConfigError


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


ROTATION = {"rotations": [{"id": "primary", "participants": ["alice", "bob"], "shift_length": "12h",
                           "handoff": "08:00", "time_zone": "Europe/Berlin", "start": "2026-11-23"}]}


@pytest.mark.parametrize(
    ("at", "shift_id", "oncall"),
    [
        ("2026-11-23T07:00:00", "primary/2026-11-23T08:00", "alice"),  # 08:00 CET = 07:00 UTC
        ("2026-11-23T18:59:59", "primary/2026-11-23T08:00", "alice"),
        ("2026-11-23T19:00:00", "primary/2026-11-23T20:00", "bob"),  # a page exactly at handoff: incoming
        ("2026-11-26T07:00:00", "primary/2026-11-26T08:00", "alice"),  # 3 days = 6 shifts later
        ("2026-11-26T06:59:59", "primary/2026-11-25T20:00", "bob"),
    ],
)
def test_rotation_assigns_half_open_shifts(at: str, shift_id: str, oncall: str) -> None:
    """12 h shifts handing off at 08:00 and 20:00 Berlin time (UTC+1 in November)."""
    shift = build_schedule(ROTATION).shift_at(ts(at))
    assert shift is not None and (shift.id, shift.oncall) == (shift_id, oncall)


def test_before_rotation_start_nobody_is_on_call() -> None:
    """An instant before the first handoff has no shift."""
    assert build_schedule(ROTATION).shift_at(ts("2026-11-23T06:59:59")) is None


def test_dst_change_keeps_wall_clock_handoff() -> None:
    """Daily 09:00 Berlin handoffs: the shift over the 2026-03-29 spring-forward lasts 23 h."""
    sched = build_schedule({"rotations": [{"id": "r", "participants": ["dave", "carol"],
                                           "shift_length": "24h", "handoff": "09:00",
                                           "time_zone": "Europe/Berlin", "start": "2026-03-28"}]})
    first = sched.shift_at(ts("2026-03-28T08:00:00"))
    assert first is not None and first.oncall == "dave"
    assert first.end == ts("2026-03-29T07:00:00") and first.length == 23 * 3600
    second = sched.shift_at(ts("2026-03-29T07:00:00"))
    assert second is not None and second.oncall == "carol"


def test_dst_fall_back_makes_a_25_hour_shift() -> None:
    """Daily 09:00 Berlin handoffs: the shift over the 2026-10-25 fall-back lasts 25 h."""
    sched = build_schedule({"rotations": [{"id": "r", "participants": ["dave"], "shift_length": "1d",
                                           "handoff": "09:00", "time_zone": "Europe/Berlin",
                                           "start": "2026-10-24"}]})
    shift = sched.shift_at(ts("2026-10-25T07:59:59"))  # 08:59:59 CET on the 25th
    assert shift is not None and shift.id == "r/2026-10-24T09:00"
    assert (shift.start, shift.end) == (ts("2026-10-24T07:00:00"), ts("2026-10-25T08:00:00"))


EXPLICIT = {
    "timezones": {"alice": "Europe/Berlin", "bob": "America/New_York"},
    "shifts": [
        {"id": "s1", "start": "2026-11-26T00:00:00Z", "end": "2026-11-26T12:00:00Z", "oncall": "alice"},
        {"id": "s2", "start": "2026-11-26T12:00:00Z", "end": "2026-11-27T12:00:00Z", "oncall": "bob"},
    ],
}


def _stats() -> PagingStats:
    stats = PagingStats(build_schedule(EXPLICIT))
    pages = [
        PageRecord("p7", ts("2026-11-26T03:00:00")),  # Berlin 04:00: night
        PageRecord("p1", ts("2026-11-26T06:59:59"), incident_id="inc-1"),  # Berlin 07:59:59: night
        PageRecord("p2", ts("2026-11-26T07:00:00"), incident_id="inc-1"),  # Berlin 08:00: day
        PageRecord("p5", ts("2026-11-26T12:00:00"), incident_id="inc-1"),  # at handoff: s2; NY 07:00
        PageRecord("p3", ts("2026-11-26T21:00:00"), actionable=False, incident_id="inc-2"),  # NY 16:00
        PageRecord("p4", ts("2026-11-27T03:00:00"), incident_id="inc-2"),  # NY 22:00: night
        PageRecord("p9", ts("2026-11-27T12:00:00")),  # s2 ends here (exclusive): outside
    ]
    for p in pages:
        stats.add_page(p)
    return stats


def test_per_shift_pages_incidents_and_night_pages() -> None:
    """Hand-counted figures for two shifts in two time zones."""
    s = _stats()
    s1, s2 = s.by_shift["s1"].to_json(), s.by_shift["s2"].to_json()
    assert (s1["pages"], s1["incidents"], s1["night_pages"], s1["non_actionable"]) == (3, 2, 2, 0)
    assert (s2["pages"], s2["incidents"], s2["night_pages"], s2["non_actionable"]) == (3, 2, 2, 1)
    assert s2["non_actionable_ratio"] == pytest.approx(1 / 3, abs=1e-4)
    assert [p.id for p in s.outside] == ["p9"]


def test_over_target_scales_with_shift_length() -> None:
    """2 incidents in a 12 h shift are over target; 2 in a 24 h shift are not (allowed: < 4)."""
    s = _stats()
    assert s.by_shift["s1"].over_target is True
    assert s.by_shift["s2"].over_target is False


def test_incident_spanning_handoff_counts_in_both_shifts() -> None:
    """inc-1 paged in s1 and again in s2, so each shift counts it."""
    s = _stats()
    assert "inc-1" in s.by_shift["s1"].incidents and "inc-1" in s.by_shift["s2"].incidents


def test_replayed_page_is_counted_once() -> None:
    """The same page id added twice counts once."""
    s = PagingStats(build_schedule(EXPLICIT))
    s.add_page(PageRecord("x", ts("2026-11-26T01:00:00")))
    s.add_page(PageRecord("x", ts("2026-11-26T01:00:00")))
    assert s.by_shift["s1"].pages == 1


def test_night_window_edge_at_2200_is_night() -> None:
    """22:00:00 local is the first night second; 21:59:59 is not (Berlin = UTC+1)."""
    s = PagingStats(build_schedule(EXPLICIT))
    s.add_page(PageRecord("a", ts("2026-11-26T20:59:59")))  # bob's shift, NY 15:59
    assert s.by_shift["s2"].night_pages == 0
    alice_night = PagingStats(build_schedule({"timezones": {"alice": "Europe/Berlin"}, "shifts": [
        {"id": "n", "start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z", "oncall": "alice"}]}))
    alice_night.add_page(PageRecord("b", ts("2026-11-26T20:59:59")))
    alice_night.add_page(PageRecord("c", ts("2026-11-26T21:00:00")))
    assert alice_night.by_shift["n"].night_pages == 1


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"timezones": {"a": "Mars/Olympus"}, "shifts": []}, "timezones.a"),
        ({"shifts": [{"id": "x", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z",
                      "oncall": "a"}]}, "shifts[0].end"),
        ({"rotations": [{"id": "r", "participants": [], "shift_length": "12h", "handoff": "08:00",
                         "start": "2026-01-01"}]}, "participants"),
        ({"rotations": [{"id": "r", "participants": ["a"], "shift_length": "12h", "handoff": "8 am",
                         "start": "2026-01-01"}]}, "handoff"),
        ({}, "no shifts"),
    ],
)
def test_bad_schedule_is_one_line_naming_the_entry(doc: dict[str, object], needle: str) -> None:
    """Schedule mistakes raise a one-line ConfigError naming the entry."""
    with pytest.raises(ConfigError) as info:
        build_schedule(doc)
    assert needle in str(info.value)
