"""Metrics in: OTLP `ExportMetricsServiceRequest` (protobuf or JSON) and obspipe metric samples.

Everything becomes flat `MetricSample`s, named and labelled the way Prometheus would see them:
a monotonic sum is a counter, a non-monotonic sum or a gauge is a gauge, and a histogram data
point becomes `<name>_count`, `<name>_sum` and cumulative `<name>_bucket{le=...}` counters, so a
latency SLI can select `good = <name>_bucket{le="0.3"}` and `total = <name>_count`. Labels are
the resource attributes overlaid with the data point's attributes, as strings.

obspipe sample (or a JSON array of them):
`{"name", "labels": {str: str}, "value", "kind": "counter"|"gauge", "time_unix_nano",
"temporality": "cumulative"|"delta"}` (temporality defaults to cumulative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from pipeline.domain.codec import otlp_json, otlp_proto
from pipeline.domain.codec.checks import fail, json_type, shown
from pipeline.errors import DecodeError, LimitExceededError, RecordError, ValidationError

MetricKind = Literal["counter", "gauge"]
Temporality = Literal["cumulative", "delta"]
MAX_SAMPLES_PER_RECORD = 100_000
_PROTO_TYPES = frozenset({"application/x-protobuf", "application/protobuf", "otlp_proto"})
# OTLP AggregationTemporality: 1 = DELTA, 2 = CUMULATIVE (0 = unspecified, treated as cumulative).
_TEMPORALITY: dict[int | str, Temporality] = {1: "delta", 2: "cumulative", 0: "cumulative",
                "AGGREGATION_TEMPORALITY_DELTA": "delta", "AGGREGATION_TEMPORALITY_CUMULATIVE": "cumulative",
                "AGGREGATION_TEMPORALITY_UNSPECIFIED": "cumulative"}


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One value of one series at one time."""

    name: str
    labels: dict[str, str]
    value: float
    kind: MetricKind
    time_unix_nano: int
    temporality: Temporality = "cumulative"

    @property
    def series(self) -> str:
        """A stable id of the series: name plus sorted labels."""
        return self.name + "{" + ",".join(f"{k}={self.labels[k]}" for k in sorted(self.labels)) + "}"


def decode_metrics(data: bytes, content_type: str | None = None) -> list[MetricSample]:
    """Decode one `otlp_metrics` record.

    Raises:
        DecodeError: neither JSON nor an OTLP protobuf metrics request.
        ValidationError: a field is missing or has the wrong type (the message names it).
        LimitExceededError: more than MAX_SAMPLES_PER_RECORD samples.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    head = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    if media not in _PROTO_TYPES and head in (b"{", b"["):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"not valid JSON: {exc}") from None
        samples = _from_json(doc)
    else:
        samples = _from_proto(data)
    if len(samples) > MAX_SAMPLES_PER_RECORD:
        raise LimitExceededError(f"{len(samples)} samples in one record exceed {MAX_SAMPLES_PER_RECORD}")
    return samples


def _from_json(doc: Any) -> list[MetricSample]:
    if isinstance(doc, dict) and "resourceMetrics" in doc:
        return _otlp(doc, _JsonReader())
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(sample_from_dict(item))
        except RecordError as exc:
            raise fail(type(exc), f"[{i}]", str(exc)) if isinstance(doc, list) else exc from None
    return out


def sample_from_dict(obj: Any) -> MetricSample:
    """An obspipe metric sample.

    Raises:
        ValidationError: a field is missing or wrong; the message names it.
    """
    if not isinstance(obj, dict):
        raise fail(ValidationError, "", f"metric sample must be an object, got {json_type(obj)}")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise fail(ValidationError, "name", f"must be a non-empty string, got {shown(name)}")
    labels = obj.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise fail(ValidationError, "labels", "must be an object of string values")
    value = obj.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(ValidationError, "value", f"must be a finite number, got {shown(value)}")
    kind = obj.get("kind", "gauge")
    if kind not in ("counter", "gauge"):
        raise fail(ValidationError, "kind", f"must be counter or gauge, got {shown(kind)}")
    time = obj.get("time_unix_nano")
    if isinstance(time, bool) or not isinstance(time, int) or time <= 0:
        raise fail(ValidationError, "time_unix_nano", f"must be a positive integer, got {shown(time)}")
    temporality = obj.get("temporality", "cumulative")
    if temporality not in ("cumulative", "delta"):
        raise fail(ValidationError, "temporality", f"must be cumulative or delta, got {shown(temporality)}")
    if kind == "counter" and value < 0:
        raise fail(ValidationError, "value", f"a counter cannot be negative, got {value}")
    return MetricSample(name, dict(labels), float(value), kind, time, temporality)


def _from_proto(data: bytes) -> list[MetricSample]:
    try:
        request = ExportMetricsServiceRequest.FromString(data)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"not an OTLP protobuf ExportMetricsServiceRequest ({exc})") from None
    if not request.resource_metrics:
        raise DecodeError("not an OTLP protobuf ExportMetricsServiceRequest (no resourceMetrics in it)")
    return _otlp(request, _ProtoReader())


class _JsonReader:
    """Field access on OTLP JSON (camelCase, int64 as strings)."""

    def resources(self, doc: Any) -> list[Any]:
        return _json_list(doc.get("resourceMetrics"), "resourceMetrics")

    def resource_labels(self, rm: Any, where: str) -> dict[str, Any]:
        resource = rm.get("resource") or {}
        return otlp_json.key_values(resource.get("attributes"), f"{where}.resource.attributes")

    def metrics(self, rm: Any, where: str) -> list[Any]:
        scopes = _json_list(rm.get("scopeMetrics"), f"{where}.scopeMetrics")
        return [m for s in scopes for m in _json_list(s.get("metrics"), f"{where}.scopeMetrics.metrics")]

    def name(self, m: Any) -> Any:
        return m.get("name")

    def kind(self, m: Any) -> tuple[str, Any]:
        for key in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
            if key in m:
                return key, m[key] or {}
        return "", None

    def points(self, body: Any, where: str) -> list[Any]:
        return _json_list(body.get("dataPoints"), f"{where}.dataPoints")

    def temporality(self, body: Any) -> Any:
        return body.get("aggregationTemporality", 0)

    def monotonic(self, body: Any) -> bool:
        return bool(body.get("isMonotonic", False))

    def attributes(self, point: Any, where: str) -> dict[str, Any]:
        return otlp_json.key_values(point.get("attributes"), f"{where}.attributes")

    def time(self, point: Any, where: str) -> int:
        return _int(point.get("timeUnixNano"), f"{where}.timeUnixNano")

    def number(self, point: Any, where: str) -> float:
        if "asDouble" in point:
            return _float(point["asDouble"], f"{where}.asDouble")
        if "asInt" in point:
            return float(_int(point["asInt"], f"{where}.asInt"))
        raise fail(ValidationError, where, "has neither asDouble nor asInt")

    def histogram(self, point: Any, where: str) -> tuple[int, float, list[int], list[float]]:
        raw_counts = _json_list(point.get("bucketCounts"), f"{where}.bucketCounts")
        raw_bounds = _json_list(point.get("explicitBounds"), f"{where}.explicitBounds")
        counts = [_int(c, f"{where}.bucketCounts") for c in raw_counts]
        bounds = [_float(b, f"{where}.explicitBounds") for b in raw_bounds]
        total = _float(point.get("sum", 0), f"{where}.sum")
        return _int(point.get("count", 0), f"{where}.count"), total, counts, bounds


class _ProtoReader:
    """The same access on the protobuf classes."""

    def resources(self, doc: Any) -> list[Any]:
        return list(doc.resource_metrics)

    def resource_labels(self, rm: Any, where: str) -> dict[str, Any]:
        return otlp_proto.key_values(rm.resource.attributes, f"{where}.resource.attributes")

    def metrics(self, rm: Any, where: str) -> list[Any]:
        return [m for s in rm.scope_metrics for m in s.metrics]

    def name(self, m: Any) -> Any:
        return m.name

    def kind(self, m: Any) -> tuple[str, Any]:
        which = m.WhichOneof("data")
        names = {"exponential_histogram": "exponentialHistogram"}
        return (names.get(which, which), getattr(m, which)) if which else ("", None)

    def points(self, body: Any, where: str) -> list[Any]:
        return list(body.data_points)

    def temporality(self, body: Any) -> Any:
        return body.aggregation_temporality

    def monotonic(self, body: Any) -> bool:
        return bool(body.is_monotonic)

    def attributes(self, point: Any, where: str) -> dict[str, Any]:
        return otlp_proto.key_values(point.attributes, f"{where}.attributes")

    def time(self, point: Any, where: str) -> int:
        return int(point.time_unix_nano)

    def number(self, point: Any, where: str) -> float:
        which = point.WhichOneof("value")
        if which is None:
            raise fail(ValidationError, where, "has neither asDouble nor asInt")
        return float(getattr(point, which))

    def histogram(self, point: Any, where: str) -> tuple[int, float, list[int], list[float]]:
        return int(point.count), float(point.sum), list(point.bucket_counts), list(point.explicit_bounds)


def _otlp(doc: Any, reader: _JsonReader | _ProtoReader) -> list[MetricSample]:
    out: list[MetricSample] = []
    for i, rm in enumerate(reader.resources(doc)):
        where = f"resourceMetrics[{i}]"
        resource = {k: _label(v) for k, v in reader.resource_labels(rm, where).items()}
        for j, metric in enumerate(reader.metrics(rm, where)):
            mwhere = f"{where}.metrics[{j}]"
            name = reader.name(metric)
            if not isinstance(name, str) or not name:
                raise fail(ValidationError, f"{mwhere}.name", f"must be a name, got {shown(name)}")
            kind, body = reader.kind(metric)
            if body is None:
                raise fail(ValidationError, mwhere, "has no sum, gauge, histogram or summary")
            temporality = _TEMPORALITY.get(reader.temporality(body) if kind != "gauge" else 0)
            if temporality is None:
                raise fail(ValidationError, f"{mwhere}.aggregationTemporality", "is not a known value")
            for k, point in enumerate(reader.points(body, mwhere)):
                pwhere = f"{mwhere}.{kind}.dataPoints[{k}]"
                labels = resource | {a: _label(v) for a, v in reader.attributes(point, pwhere).items()}
                time = reader.time(point, pwhere)
                if time <= 0:
                    raise fail(ValidationError, f"{pwhere}.timeUnixNano", "is missing")
                if kind in ("sum", "gauge"):
                    counter = kind == "sum" and reader.monotonic(body)
                    value = reader.number(point, pwhere)
                    out.append(MetricSample(name, labels, value, "counter" if counter else "gauge", time,
                                            temporality if counter else "cumulative"))
                elif kind == "histogram":
                    out.extend(_histogram(name, labels, time, temporality, reader.histogram(point, pwhere)))
                # exponential histograms and summaries are not SLI inputs yet: skipped, not an error
    return out


def _histogram(
    name: str, labels: dict[str, str], time: int, temporality: Temporality,
    point: tuple[int, float, list[int], list[float]],
) -> list[MetricSample]:
    count, total, bucket_counts, bounds = point
    if bucket_counts and len(bucket_counts) != len(bounds) + 1:
        raise ValidationError(
            f"{name}: {len(bucket_counts)} histogram bucket counts for {len(bounds)} bounds (need one more)"
        )
    mode = temporality
    out = [
        MetricSample(f"{name}_count", labels, float(count), "counter", time, mode),
        MetricSample(f"{name}_sum", labels, total, "counter", time, mode),
    ]
    running = 0
    for bound, n in zip([*bounds, math.inf], bucket_counts, strict=False):
        running += n
        le = "+Inf" if bound == math.inf else f"{bound:g}"
        out.append(MetricSample(f"{name}_bucket", labels | {"le": le}, float(running), "counter", time, mode))
    return out


def _json_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(ValidationError, field, f"must be an array, got {json_type(value)}")
    return value


def _int(value: Any, field: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise fail(ValidationError, field, f"must be an integer (or its decimal string), got {shown(value)}")


def _float(value: Any, field: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise fail(ValidationError, field, f"must be a number, got {shown(value)}")


def _label(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
