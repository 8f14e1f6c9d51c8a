"""Worker metrics: instruments, labels and the HTTP endpoint."""

from __future__ import annotations

from pipeline.adapters.faust_metrics import MetricsSensor
from pipeline.adapters.observability import PipelineMetrics


def _value(metrics: PipelineMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"app": metrics.app, **labels})


def test_counters_accumulate_per_app() -> None:
    """Span and record counters add up the increments of their own app only."""
    a, b = PipelineMetrics("span-ingest"), PipelineMetrics("trace-assembler")
    a.spans_in.inc(500)
    a.spans_in.inc(20)
    a.records_in.inc()
    b.spans_out.inc(3)
    assert _value(a, "obspipe_spans_in_total") == 520
    assert _value(a, "obspipe_records_in_total") == 1
    assert _value(b, "obspipe_spans_out_total") == 3
    assert _value(b, "obspipe_spans_in_total") == 0


def test_dlq_counts_by_reason() -> None:
    """Dead-lettered records are counted separately for each reason."""
    m = PipelineMetrics("span-ingest")
    m.dlq_record("decode_error")
    m.dlq_record("decode_error", 2)
    m.dlq_record("limit_exceeded")
    assert _value(m, "obspipe_dlq_records_total", reason="decode_error") == 3
    assert _value(m, "obspipe_dlq_records_total", reason="limit_exceeded") == 1


def test_lag_is_per_partition_clamped_and_forgettable() -> None:
    """Lag is a gauge per topic partition, never negative, removed when the partition is revoked."""
    m = PipelineMetrics("red-metrics")
    m.set_lag("otlp_spans", 0, 42)
    m.set_lag("otlp_spans", 1, -3)
    assert _value(m, "obspipe_consumer_lag", topic="otlp_spans", partition="0") == 42
    assert _value(m, "obspipe_consumer_lag", topic="otlp_spans", partition="1") == 0
    m.forget_partition("otlp_spans", 0)
    m.forget_partition("otlp_spans", 7)  # never set: no error
    assert _value(m, "obspipe_consumer_lag", topic="otlp_spans", partition="0") is None


def test_commit_latency_histogram_counts_observations() -> None:
    """Each timed commit adds one observation to the commit latency histogram."""
    m = PipelineMetrics("alert-router")
    with m.time_commit():
        pass
    m.commit_latency.observe(0.003)
    assert _value(m, "obspipe_commit_latency_seconds_count") == 2
    # 0.003 s falls in the 5 ms bucket and above the 2.5 ms one.
    assert _value(m, "obspipe_commit_latency_seconds_bucket", le="0.005") == 2
    assert _value(m, "obspipe_open_traces") == 0


def test_faust_sensor_counts_messages_and_times_commits() -> None:
    """The faust sensor counts each message in and observes one latency per completed commit."""
    m = PipelineMetrics("span-ingest")
    sensor = MetricsSensor(m)
    sensor.on_message_in(None, 0, None)
    sensor.on_message_in(None, 1, None)
    sensor.on_commit_completed(None, sensor.on_commit_initiated(None))
    assert _value(m, "obspipe_records_in_total") == 2
    assert _value(m, "obspipe_commit_latency_seconds_count") == 1
