"""The dashboard's in-memory views: shapes, bounds, dedupe, coalesced updates, bad records."""

from __future__ import annotations

import orjson

from pipeline.dashboard.state import DashboardState, ViewLimits
from pipeline.testing.dashboard_records import (
    dlq_record,
    linked_traces,
    page_record,
    shift_record,
    slo_record,
)

BASE = 1_795_000_000_000_000_000


def _trace(trace_id: str, duration_ms: int, errors: int = 0, revision: int = 1, spans: int = 1) -> dict:
    return {
        "trace_id": trace_id,
        "revision": revision,
        "summary": {"root_service": "svc", "root_name": "op", "duration_ns": duration_ms * 1_000_000,
                    "span_count": spans, "error_count": errors, "start_time_unix_nano": BASE},
        "spans": [{"span_id": f"{i:016x}"} for i in range(spans)],
    }


def test_pages_are_newest_first_with_decision_reason_and_alert() -> None:
    """A page record shows its decision, reason and first alert's name and service, newest first."""
    state = DashboardState()
    cpu = page_record("ticket", "cause alert: cpu", "HighCPU", "db", at="2026-11-26T10:00:00Z")
    state.apply("pages", cpu, 1)
    state.apply("pages", page_record("page", "symptom: error ratio", "ErrorRate", "payments",
                                     at="2026-11-26T10:01:00Z"), 2)
    first = state.pages[0]
    assert (first["decision"], first["reason"], first["alertname"], first["service"]) == (
        "page", "symptom: error ratio", "ErrorRate", "payments")
    assert state.pages[1]["alertname"] == "HighCPU"
    assert state.page_counts == {"ticket": 1, "page": 1}


def test_resolved_notifications_are_not_counted_as_pages() -> None:
    """A resolved notification is listed but counted under "resolved", not as another page."""
    state = DashboardState()
    state.apply("pages", page_record("page", "symptom", "ErrorRate", "payments", at="t1"), 1)
    state.apply("pages", {**page_record("page", "resolved", "ErrorRate", "payments", at="t2"),
                          "status": "resolved"}, 2)
    assert state.page_counts == {"page": 1, "resolved": 1}
    assert [p["status"] for p in state.pages] == ["resolved", "firing"]


def test_drain_sends_each_new_page_but_one_update_per_view() -> None:
    """Draining yields every new page, then one coalesced event per changed view, then nothing."""
    state = DashboardState()
    for i in range(3):
        state.apply("pages", page_record("page", "r", f"A{i}", "s", at="t"), i)
    for i in range(5):
        state.apply("traces", _trace(f"{i:032x}", 10), i)
    names = [name for name, _ in state.drain()]
    assert names == ["page", "page", "page", "page_counts", "traces"]
    assert state.drain() == []


def test_trace_revisions_keep_the_highest_and_drop_duplicates() -> None:
    """An equal or lower revision of a held trace is ignored; a higher one replaces it."""
    state = DashboardState()
    state.apply("traces", _trace("a" * 32, 10, revision=2), None)
    state.drain()
    state.apply("traces", _trace("a" * 32, 99, revision=2), None)
    state.apply("traces", _trace("a" * 32, 99, revision=1), None)
    assert state.drain() == []
    state.apply("traces", _trace("a" * 32, 50, revision=3), None)
    held = state.trace("a" * 32)
    assert held is not None and held["revision"] == 3


def test_trace_lists_recent_slow_and_errors() -> None:
    """Recent is newest first, slow is longest first, errors keeps only traces with errors."""
    state = DashboardState(limits=ViewLimits(trace_list=2))
    state.apply("traces", _trace("1" * 32, 300), None)
    state.apply("traces", _trace("2" * 32, 100, errors=1), None)
    state.apply("traces", _trace("3" * 32, 200), None)
    lists = state.trace_lists()
    assert [t["trace_id"][0] for t in lists["recent"]] == ["3", "2"]
    assert [t["trace_id"][0] for t in lists["slow"]] == ["1", "3"]
    assert [t["trace_id"][0] for t in lists["errors"]] == ["2"]


def test_traces_are_bounded_by_count_and_by_spans() -> None:
    """The oldest traces are evicted past the trace bound or the total span bound."""
    state = DashboardState(limits=ViewLimits(traces=3, trace_spans=10))
    for i in range(5):
        state.apply("traces", _trace(f"{i:032x}", 1), None)
    assert [t[-1] for t in state.traces] == ["2", "3", "4"]
    state.apply("traces", _trace("f" * 32, 1, spans=9), None)  # 1 + 9 spans fit; 1 + 1 + 9 do not
    assert list(state.traces) == [f"{4:032x}", "f" * 32]


def test_slo_history_keeps_points_and_reads_exact_numbers() -> None:
    """SLO status points accumulate per SLO; exact values written as "a/b" strings are read as numbers."""
    state = DashboardState(limits=ViewLimits(slo_history=2))
    for i, burn in enumerate([0.5, 20.0, 15.0]):
        state.apply("slo", slo_record("checkout", {"5m": burn, "1h": None}, 0.9, tier="normal",
                                      time_unix_nano=BASE + i * 10**9), None)
    state.apply("slo", {**slo_record("api", {"1h": "29/2"}, 0.5, tier="caution", time_unix_nano=BASE),
                        "budget_remaining": "1/4"}, None)
    checkout, api = sorted(state.slo_list(), key=lambda s: s["slo"])[::-1]
    assert [p["burn_rates"]["5m"] for p in checkout["history"]] == [20.0, 15.0]
    assert checkout["history"][1]["t"] == BASE // 1_000_000 + 2_000
    assert checkout["burn_rates"]["1h"] is None
    assert api["burn_rates"]["1h"] == 14.5 and api["budget_remaining"] == 0.25


def test_shifts_sorted_by_start_and_bounded() -> None:
    """Shift statistics are listed by start time, an update replaces its shift, the oldest go first."""
    state = DashboardState(limits=ViewLimits(shifts=2))
    for sid, start, pages in [("s2", "2026-11-25T20:00Z", 1), ("s1", "2026-11-25T08:00Z", 3),
                              ("s3", "2026-11-26T08:00Z", 0), ("s2", "2026-11-25T20:00Z", 4)]:
        state.apply("shifts", shift_record(sid, "bob", start=start, end="", pages=pages, night_pages=0,
                                           non_actionable_ratio=0.5), None)
    assert [(s["shift_id"], s["pages"], s["over_target"]) for s in state.shift_list()] == [
        ("s2", 4, True), ("s3", 0, False)]


def test_dlq_counts_by_reason_and_names_the_source() -> None:
    """Dead letters are counted per reason and listed with topic[partition]@offset."""
    state = DashboardState()
    state.apply("dlq", dlq_record("decode_error", "not JSON", offset=41), None)
    state.apply("dlq", dlq_record("decode_error", "not JSON", offset=42), None)
    state.apply("dlq", dlq_record("limit_exceeded", "too many attributes"), None)
    view = state.dlq_view()
    assert view["total"] == 3 and view["by_reason"] == {"decode_error": 2, "limit_exceeded": 1}
    assert view["recent"][1]["source"] == "otlp_spans[0]@42"


def test_bad_records_are_counted_with_their_reason_not_raised() -> None:
    """Undecodable or malformed records are rejected and counted; the views stay unchanged."""
    state = DashboardState()
    assert not state.ingest("pages", b"{not json", 1)
    assert not state.ingest("pages", orjson.dumps({"reason": "no decision"}), 1)
    assert not state.ingest("traces", orjson.dumps([1, 2]), 1)
    assert not state.ingest("traces", orjson.dumps({**_trace("a" * 32, 1), "revision": "2"}), 1)
    assert not state.ingest("slo", None, 1)
    assert state.rejected == {"decode_error": 2, "validation_error": 3}
    assert state.last_rejection == "slo: empty record value (tombstone)"
    assert not state.pages and not state.traces
    assert state.ingest("pages", orjson.dumps(page_record("page", "r", "A", "s", at="t")), 1)
    assert state.records_seen == {"pages": 1}


def test_assembled_trace_from_the_assembler_is_held_and_summarised() -> None:
    """A real assembled trace is held whole and summarised with its errors and links."""
    traces = linked_traces(BASE)
    state = DashboardState()
    state.apply("traces", traces.checkout, None)
    row = state.trace_lists()["errors"][0]
    assert row["trace_id"] == traces.checkout["trace_id"]
    assert row["error_count"] == 2 and row["span_count"] == 9 and row["links"] == 1
    assert row["duration_ns"] == 420_000_000


def test_health_updates_only_when_a_part_changes() -> None:
    """Setting a health part to its current value sends nothing; a new value sends one update."""
    state = DashboardState()
    state.set_health(feed={"ready": True})
    assert [name for name, _ in state.drain()] == ["health"]
    state.set_health(feed={"ready": True})
    assert state.drain() == []
    state.set_health(lag=[{"group": "g", "lag": 3}])
    (name, view), = state.drain()
    assert name == "health" and view["feed"] == {"ready": True} and view["lag"][0]["lag"] == 3
