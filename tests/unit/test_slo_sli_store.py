"""SLI contributions from RED records and metric samples, and idempotent storage of them."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest

from pipeline.domain.alerting.matchers import parse_matchers
from pipeline.domain.metrics_codec import MetricSample
from pipeline.domain.red.sketch import DDSketch
from pipeline.domain.slo.definitions import MetricSelector, MetricSli, SloDefinition, SpanSli
from pipeline.domain.slo.sli import metric_contributions, red_contributions
from pipeline.domain.slo.store import BucketDelta, Contribution, InMemorySloStore
from pipeline.errors import ValidationError

MINUTE = 60_000_000_000
T0 = 28_333_333 * MINUTE


def definition(name: str, sli: SpanSli | MetricSli) -> SloDefinition:
    return SloDefinition(name, Fraction(999, 1000), "99.9", 43200, "30d", None, sli)


AVAILABILITY = definition("avail", SpanSli("error_ratio", "api", operation="GET /"))
LATENCY = definition("fast", SpanSli("latency", "api", threshold_ms=300.0))
METRIC = definition(
    "http",
    MetricSli(
        good=MetricSelector("http_requests_total", parse_matchers(['code=~"2.."'])),
        total=MetricSelector("http_requests_total"),
    ),
)


def red_record(operation: str = "GET /", requests: int = 4, errors: int = 1, source: str = "p0") -> dict:
    sketch = DDSketch()
    sketch.add_many([10.0, 100.0, 290.0, 310.0][:requests])
    return {
        "schema": "red_metrics/v1", "service": "api", "operation": operation, "kind": "SERVER",
        "window_start_unix_nano": T0 + 20_000_000_000, "window_s": 10, "requests": requests,
        "errors": errors, "sketch": sketch.to_json(), "source": source,
    }


def test_red_record_feeds_error_ratio_and_latency_slis() -> None:
    """4 requests, 1 error, 3 under 300 ms: availability good 3 of 4, latency good 3 of 4, same minute."""
    out = red_contributions([AVAILABILITY, LATENCY, METRIC], red_record())
    assert [(c.slo, c.minute, c.good, c.total) for c in out] == [
        ("avail", T0 // MINUTE, 3, 4), ("fast", T0 // MINUTE, 3, 4)
    ]
    assert out[0].source == f"red|api|GET /|SERVER|{T0 + 20_000_000_000}|p0"


def test_red_record_for_other_operation_is_ignored_by_operation_sli() -> None:
    """An SLI naming an operation does not take other operations of the service."""
    out = red_contributions([AVAILABILITY, LATENCY], red_record(operation="POST /"))
    assert [c.slo for c in out] == ["fast"]


def test_malformed_red_record_raises_validation_error() -> None:
    """More errors than requests is rejected with the field named."""
    with pytest.raises(ValidationError, match="errors"):
        red_contributions([AVAILABILITY], red_record(requests=2, errors=3))


def test_replayed_window_is_not_counted_twice() -> None:
    """Storing the same contribution again, or a smaller replayed part of it, leaves the bucket alone."""
    store = InMemorySloStore()
    full = Contribution("avail", 7, "red|k|p0", 90, 100)
    assert store.apply([full]) == [BucketDelta("avail", 7, 90, 100)]
    assert store.apply([full]) == []
    assert store.apply([Contribution("avail", 7, "red|k|p0", 20, 30)]) == []
    assert store.apply([Contribution("avail", 7, "red|k|p1", 5, 5)]) == [BucketDelta("avail", 7, 5, 5)]
    assert store.buckets("avail", 0) == {7: (95, 105)}


def sample(value: float, minute: int, code: str = "200", temporality: str = "cumulative") -> MetricSample:
    return MetricSample("http_requests_total", {"code": code}, value, "counter", T0 + minute * MINUTE,
                        temporality)  # type: ignore[arg-type]


def test_cumulative_counters_become_increases_with_reset_handling() -> None:
    """Cumulative 100 -> 160 -> 40 (reset) gives increases 60 and 40; the first sample only sets the base."""
    out, newest = metric_contributions([METRIC], [sample(100, 0), sample(160, 1), sample(40, 2)], {})
    assert [(c.minute - T0 // MINUTE, c.good, c.total) for c in out] == [(1, 60, 60), (2, 40, 40)]
    assert newest == {'http_requests_total{code=200}': (T0 + 2 * MINUTE, 40)}


def test_counter_samples_not_newer_than_stored_are_skipped() -> None:
    """A replayed sample (time <= the stored newest) contributes nothing."""
    last = {'http_requests_total{code=500}': (T0 + 5 * MINUTE, 10.0)}
    out, newest = metric_contributions([METRIC], [sample(10, 5, code="500"), sample(13, 6, code="500")], last)
    assert [(c.good, c.total) for c in out] == [(0, 3)]  # a 500 counts in total only
    assert newest == {'http_requests_total{code=500}': (T0 + 6 * MINUTE, 13.0)}


def test_delta_counters_are_increases_already() -> None:
    """A delta-temporality sample is its own increase, first sample included."""
    out, newest = metric_contributions([METRIC], [sample(7, 0, temporality="delta")], {})
    assert [(c.good, c.total) for c in out] == [(7, 7)] and newest == {}


def test_aggregator_records_feed_span_slis() -> None:
    """Records straight from RedAggregator (sketch included) give error-ratio and latency contributions."""
    from pipeline.domain.red.aggregate import RedAggregator
    from pipeline.domain.span import Span

    agg: RedAggregator[str] = RedAggregator(10, 0, source="spans[1]")
    durations_ms = [5, 50, 250, 350, 900]
    spans = [
        Span("a" * 32, "b" * 16, "GET /", T0 + 10**9 - d * 10**6, T0 + 10**9, "api", kind="SERVER",
             status_code="ERROR" if d == 900 else "OK")
        for d in durations_ms
    ]
    agg.add_bundle(spans, "t")
    (window,) = agg.flush().windows
    (record,) = [r for _, r in window.records]
    out = red_contributions([AVAILABILITY, LATENCY], orjson.loads(orjson.dumps(record)))
    assert [(c.slo, c.good, c.total) for c in out] == [("avail", 4, 5), ("fast", 3, 5)]
