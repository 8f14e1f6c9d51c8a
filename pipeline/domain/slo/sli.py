"""From inputs to SLI contributions: which good and total events a record adds to which SLO minute.

- A `metrics.red` record feeds every span SLI that selects its service/operation/kind: good =
  requests - errors (error ratio) or requests at most `threshold_ms` by the record's sketch
  (latency; exact except within the sketch's 1 % around the threshold). It counts in the minute
  of its window start (a 10 s window always lies inside one minute).
- Metric samples feed metric SLIs: the increase of a counter series selected as good and/or
  total, in the minute of the sample. Cumulative counters become increases against the previous
  sample of the series; delta counters are increases already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.domain.metrics_codec import MetricSample
from pipeline.domain.red.sketch import DDSketch
from pipeline.domain.slo.buckets import NS_PER_MINUTE
from pipeline.domain.slo.definitions import MetricSli, SloDefinition, SpanSli
from pipeline.domain.slo.store import Contribution, counter_increase
from pipeline.errors import ValidationError

_RED_FIELDS: tuple[tuple[str, type], ...] = (
    ("service", str), ("operation", str), ("kind", str), ("window_start_unix_nano", int),
    ("requests", int), ("errors", int),
)


def red_contributions(slos: Iterable[SloDefinition], record: Any) -> list[Contribution]:
    """The contributions of one `metrics.red` record (key + source make it idempotent).

    Raises:
        ValidationError: the record is not a valid red_metrics/v1 record.
    """
    if not isinstance(record, dict) or record.get("schema") != "red_metrics/v1":
        raise ValidationError("not a red_metrics/v1 record", field="schema")
    for name, kind in _RED_FIELDS:
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValidationError(f"{name}: must be a {kind.__name__}, got {value!r}", field=name)
    requests, errors = record["requests"], record["errors"]
    if not 0 <= errors <= requests:
        raise ValidationError(f"errors: must be in 0..requests ({requests}), got {errors}", field="errors")
    service, operation, kind = record["service"], record["operation"], record["kind"]
    start = record["window_start_unix_nano"]
    source = f"red|{service}|{operation}|{kind}|{start}|{record.get('source', '')}"
    minute = start // NS_PER_MINUTE
    sketch: DDSketch | None = None
    out = []
    for slo in slos:
        sli = slo.sli
        if not isinstance(sli, SpanSli) or not sli.selects(service, operation, kind):
            continue
        if sli.type == "error_ratio":
            good = requests - errors
        else:
            if sketch is None:
                sketch = DDSketch.from_json(record.get("sketch"))
                if sketch.count != requests:
                    raise ValidationError("sketch: count differs from requests", field="sketch")
            assert sli.threshold_ms is not None
            good = sketch.count_at_most(sli.threshold_ms)
        out.append(Contribution(slo.name, minute, source, good, requests))
    return out


def metric_series_wanted(slos: Iterable[SloDefinition], sample: MetricSample) -> bool:
    """True when some metric SLI selects this sample as good or total."""
    name, labels = sample.name, sample.labels
    return any(
        isinstance(slo.sli, MetricSli)
        and (slo.sli.good.matches(name, labels) or slo.sli.total.matches(name, labels))
        for slo in slos
    )


def metric_contributions(
    slos: list[SloDefinition],
    samples: Iterable[MetricSample],
    last: Mapping[str, tuple[int, float]],
) -> tuple[list[Contribution], dict[str, tuple[int, float]]]:
    """Contributions of counter samples, and the newest sample per cumulative series to remember.

    Args:
        slos: the SLO definitions.
        samples: decoded samples; gauges and unselected series are ignored.
        last: the newest stored (time, value) of each cumulative series (`SloStore.last_samples`).

    Returns:
        The contributions (increases rounded to whole events) and the new newest samples.
    """
    wanted = sorted(
        (s for s in samples if s.kind == "counter" and metric_series_wanted(slos, s)),
        key=lambda s: s.time_unix_nano,
    )
    newest: dict[str, tuple[int, float]] = {}
    out: list[Contribution] = []
    for sample in wanted:
        series = sample.series
        if sample.temporality == "delta":
            increase: float | None = sample.value
        else:
            previous = newest.get(series) or last.get(series)
            increase = counter_increase(previous, sample.time_unix_nano, sample.value)
            if previous is None or sample.time_unix_nano > previous[0]:
                newest[series] = (sample.time_unix_nano, sample.value)
        if increase is None:
            continue
        events = round(increase)
        minute = sample.time_unix_nano // NS_PER_MINUTE
        source = f"metric|{series}|{sample.time_unix_nano}"
        for slo in slos:
            sli = slo.sli
            if not isinstance(sli, MetricSli):
                continue
            good = events if sli.good.matches(sample.name, sample.labels) else 0
            total = events if sli.total.matches(sample.name, sample.labels) else 0
            if good or total:
                out.append(Contribution(slo.name, minute, source, good, total))
    return out, newest
