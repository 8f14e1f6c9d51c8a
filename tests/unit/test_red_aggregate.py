"""RED aggregation: tumbling event-time windows, watermark, late spans and token release."""

from __future__ import annotations

from pipeline.domain.red.aggregate import RED_SCHEMA, RedAggregator
from pipeline.domain.span import Span

S = 1_000_000_000
MS = 1_000_000
BASE = 1_700_000_000 * S  # a multiple of 10 s


def span(end_s: float, duration_ms: float, *, service: str = "api", name: str = "GET /", error: bool = False,
         kind: str = "SERVER") -> Span:
    end = BASE + int(end_s * S)
    return Span(
        trace_id="a" * 32, span_id="b" * 16, name=name, start_time_unix_nano=end - int(duration_ms * MS),
        end_time_unix_nano=end, service_name=service, kind=kind,  # type: ignore[arg-type]
        status_code="ERROR" if error else "OK",
    )


def test_window_closes_when_watermark_passes_and_counts_by_hand() -> None:
    """A 10 s window closes once a span ends 10 s (the lateness) after its end; counts are by hand."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=10, source="p0")
    bundle = [span(1, 100), span(2, 200, error=True), span(3, 300), span(4, 400, name="POST /")]
    first = agg.add_bundle(bundle, "e1")
    assert first.records == [] and first.released == []
    # Watermark = 19.5 s - 10 s = 9.5 s: window [0, 10) still open.
    assert agg.add_bundle([span(19.5, 5)], "e2").records == []
    out = agg.add_bundle([span(20, 5)], "e3")  # watermark 10 s: [0, 10) closes
    records = dict(out.records)
    get = records[f"api|GET /|SERVER|{BASE}"]
    assert get["schema"] == RED_SCHEMA
    assert (get["requests"], get["errors"], get["window_s"]) == (3, 1, 10)
    assert get["window_start_unix_nano"] == BASE and get["source"] == "p0"
    assert abs(get["duration_ms"]["p50"] - 200) <= 2  # rank floor(0.5 * 2) = 1 -> 200 ms
    assert get["duration_ms"]["max"] == 300
    assert records[f"api|POST /|SERVER|{BASE}"]["requests"] == 1
    assert [w.tokens for w in out.windows] == [["e1"]]
    assert agg.settle(["e1"]) == ["e1"]


def test_token_released_only_after_every_window_it_touched_is_settled() -> None:
    """A bundle with spans in two windows is released only when both windows are delivered."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=0)
    out = agg.add_bundle([span(5, 1), span(15, 1)], "both")  # watermark 15: [0, 10) closes
    assert [w.tokens for w in out.windows] == [["both"]]
    assert agg.settle(out.windows[0].tokens) == []  # still in [10, 20)
    assert agg.add_bundle([span(12, 1)], "second").windows == []
    out = agg.add_bundle([span(20, 1)], "third")  # watermark 20: [10, 20) closes
    assert [w.tokens for w in out.windows] == [["both", "second"]]
    assert agg.settle(out.windows[0].tokens) == ["both", "second"]
    (last,) = agg.flush().windows
    assert agg.settle(last.tokens) == ["third"]


def test_late_spans_are_counted_not_dropped_silently() -> None:
    """A span for a window the watermark has passed is counted as late, and its bundle is released."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=5)
    agg.add_bundle([span(1, 1)], "e1")
    agg.add_bundle([span(30, 1)], "e2")  # watermark 25: [0, 10) closed
    out = agg.add_bundle([span(9, 1), span(9.5, 1)], "late")
    assert agg.late_spans == 2
    assert out.released == ["late"] and out.records == []


def test_span_within_lateness_joins_its_window() -> None:
    """A span older than the newest one but within the allowed lateness still counts in its window."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=10)
    agg.add_bundle([span(1, 1), span(15, 1)], "e1")  # watermark 5
    agg.add_bundle([span(8, 1)], "e2")
    records = dict(agg.flush().records)
    assert records[f"api|GET /|SERVER|{BASE}"]["requests"] == 2
    assert agg.late_spans == 0


def test_flush_moves_the_watermark_past_flushed_windows() -> None:
    """After a flush, a straggler for a flushed window is late rather than re-emitted under the same key."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=10)
    agg.add_bundle([span(1, 1)], "e1")
    assert len(agg.flush().records) == 1
    out = agg.add_bundle([span(2, 1)], "e2")
    assert agg.late_spans == 1 and out.released == ["e2"] and agg.open_windows == 0


def test_empty_bundle_is_released_at_once() -> None:
    """A bundle without spans has nothing to wait for."""
    agg: RedAggregator[str] = RedAggregator(window_s=10, allowed_lateness_s=10)
    assert agg.add_bundle([], "empty").released == ["empty"]
