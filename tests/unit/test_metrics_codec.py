"""Metrics decoding: OTLP protobuf and JSON (sums, gauges, histograms) and obspipe samples."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from pipeline.domain.metrics_codec import decode_metrics
from pipeline.errors import DecodeError, ValidationError

T = 1_700_000_000_000_000_000


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def proto_request() -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "api"))
    scope = rm.scope_metrics.add()
    requests = scope.metrics.add(name="http_requests_total")
    requests.sum.is_monotonic = True
    requests.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    requests.sum.data_points.add(time_unix_nano=T, as_int=42, attributes=[kv("code", "200")])
    memory = scope.metrics.add(name="memory_bytes")
    memory.gauge.data_points.add(time_unix_nano=T, as_double=1.5)
    latency = scope.metrics.add(name="http_duration_seconds")
    latency.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    latency.histogram.data_points.add(
        time_unix_nano=T, count=10, sum=2.5, bucket_counts=[6, 3, 1], explicit_bounds=[0.1, 0.3]
    )
    return request.SerializeToString()


def test_otlp_proto_sum_gauge_and_histogram() -> None:
    """A monotonic sum is a counter, a gauge a gauge, a histogram _count/_sum and cumulative _bucket{le}."""
    samples = {(s.name, s.labels.get("le", s.labels.get("code"))): s for s in decode_metrics(proto_request())}
    counter = samples[("http_requests_total", "200")]
    assert (counter.value, counter.kind, counter.temporality) == (42.0, "counter", "cumulative")
    assert counter.labels == {"service.name": "api", "code": "200"}
    assert samples[("memory_bytes", None)].kind == "gauge"
    assert samples[("http_duration_seconds_count", None)].value == 10
    assert samples[("http_duration_seconds_count", None)].temporality == "delta"
    buckets = [samples[("http_duration_seconds_bucket", le)].value for le in ("0.1", "0.3", "+Inf")]
    assert buckets == [6, 9, 10]


def test_otlp_json_request() -> None:
    """OTLP JSON with int64 as strings and enum names decodes like the protobuf form."""
    doc = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeMetrics": [{"metrics": [{
            "name": "http_requests_total",
            "sum": {"isMonotonic": True, "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                    "dataPoints": [{"timeUnixNano": str(T), "asInt": "7",
                                    "attributes": [{"key": "code", "value": {"stringValue": "500"}}]}]},
        }]}],
    }]}
    (only,) = decode_metrics(orjson.dumps(doc))
    assert (only.name, only.value, only.kind) == ("http_requests_total", 7.0, "counter")
    assert only.temporality == "delta"
    assert only.labels == {"service.name": "api", "code": "500"} and only.time_unix_nano == T


def test_obspipe_samples_single_and_array() -> None:
    """obspipe samples decode one at a time or as an array; temporality defaults to cumulative."""
    one = {"name": "jobs_total", "labels": {"ok": "true"}, "value": 3, "kind": "counter", "time_unix_nano": T}
    assert decode_metrics(orjson.dumps(one))[0].temporality == "cumulative"
    assert len(decode_metrics(orjson.dumps([one, one | {"kind": "gauge", "value": -1}]))) == 2


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (b"\x00\x01garbage", DecodeError, "ExportMetricsServiceRequest"),
        (b"{not json", DecodeError, "not valid JSON"),
        (orjson.dumps({"name": "x", "value": "3", "kind": "counter", "time_unix_nano": T}), ValidationError,
         "value"),
        (orjson.dumps([{"name": "x", "value": 1, "kind": "counter"}]), ValidationError,
         r"\[0\]: time_unix_nano"),
        (orjson.dumps({"name": "x", "value": -1, "kind": "counter", "time_unix_nano": T}), ValidationError,
         "negative"),
        (orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "h", "histogram": {
            "dataPoints": [{"timeUnixNano": str(T), "count": "1", "bucketCounts": ["1"],
                            "explicitBounds": [0.1]}]}}]}]}]}), ValidationError, "need one more"),
    ],
)
def test_malformed_metrics_raise_record_errors(payload: bytes, error: type, message: str) -> None:
    """Malformed input raises the project's RecordError subclasses with the field named (-> DLQ)."""
    with pytest.raises(error, match=message):
        decode_metrics(payload)
