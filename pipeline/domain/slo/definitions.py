"""SLO definitions, loaded from YAML.

```yaml
slos:
  - name: checkout-availability
    objective: 99.9          # percent, parsed exactly (99.9 is 999/1000, not a float)
    period: 30d              # default 30d; units m, h, d, w
    service: checkout        # optional, copied into alert labels
    runbook_url: https://runbooks.example/checkout   # optional, into alert annotations
    sli:
      spans: {type: error_ratio, service: checkout, operation: "POST /pay", kind: SERVER}
  - name: checkout-latency
    objective: 99
    sli:
      spans: {type: latency, service: checkout, threshold_ms: 300}
  - name: api-availability
    objective: 99.5
    sli:
      metrics:
        good:  {name: http_requests_total, matchers: ['code=~"2..|3.."']}
        total: {name: http_requests_total}
```

Label matchers use Alertmanager's syntax (`=`, `!=`, `=~`, `!~`; regexes anchored).
Every error is one line naming the entry (`slos[1] (name=checkout-latency)`) and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.domain.alerting.matchers import Matcher, all_match, parse_matchers
from pipeline.domain.span import SPAN_KINDS
from pipeline.errors import ConfigError

_ENTRY_KEYS = {"name", "objective", "period", "service", "sli", "description", "runbook_url"}
MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
DEFAULT_PERIOD = "30d"
_PERIOD_RE = re.compile(r"^([1-9][0-9]*)([mhdw])$")


@dataclass(frozen=True, slots=True)
class MetricSelector:
    """A counter chosen by metric name and label matchers."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.name and all_match(self.matchers, labels)


@dataclass(frozen=True, slots=True)
class SpanSli:
    """Good/total from RED records: non-error requests, or requests at most threshold_ms."""

    type: Literal["error_ratio", "latency"]
    service: str
    operation: str | None = None
    kind: str | None = None
    threshold_ms: float | None = None

    def selects(self, service: str, operation: str, kind: str) -> bool:
        return (
            service == self.service
            and (self.operation is None or operation == self.operation)
            and (self.kind is None or kind == self.kind)
        )


@dataclass(frozen=True, slots=True)
class MetricSli:
    """Good/total from counter increments of two selected series sets."""

    good: MetricSelector
    total: MetricSelector


@dataclass(frozen=True, slots=True)
class SloDefinition:
    """One SLO: objective as an exact fraction of good events, period in minutes."""

    name: str
    objective: Fraction
    objective_text: str
    period_minutes: int
    period_text: str
    service: str | None = None
    sli: SpanSli | MetricSli | None = None
    runbook_url: str = ""


class _ExactLoader(yaml.SafeLoader):
    """Safe YAML whose floats stay exact decimals (99.9 must not become 99.900000000000006)."""


def _exact_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def parse_period(text: str) -> int:
    """`30d` -> 43200 minutes.

    Raises:
        ValueError: not a positive whole number followed by m, h, d or w.
    """
    match = _PERIOD_RE.match(text.strip())
    if not match:
        raise ValueError(f"must look like 30d, 7d, 12h or 90m (units m, h, d, w), got {text!r}")
    return int(match.group(1)) * MINUTES[match.group(2)]


def parse_objective(value: Any) -> tuple[Fraction, str]:
    """A percentage strictly between 0 and 100, as an exact fraction of 1: 99.9 -> 999/1000.

    Raises:
        ValueError: not a number, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(f"must be a percentage like 99.9, got {value!r}")
    try:
        dec = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        raise ValueError(f"must be a percentage like 99.9, got {value!r}") from None
    if not dec.is_finite() or not 0 < dec < 100:
        raise ValueError(f"must be strictly between 0 and 100 (percent), got {value}")
    return Fraction(dec) / 100, str(dec.normalize() if dec == dec.to_integral() else dec)


class _Entry:
    """Helpers that raise one-line errors naming the SLO entry and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {field}: {message}")

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping, got {type(value).__name__}")
        unknown = sorted(set(map(str, value)) - allowed)
        if unknown:
            raise self.fail(field, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(field, f"must be a non-empty string, got {value!r}")
        return value


def _selector(entry: _Entry, raw: Any, field: str) -> MetricSelector:
    spec = entry.mapping(raw, field, {"name", "matchers"})
    if "name" not in spec:
        raise entry.fail(f"{field}.name", "is required")
    name = entry.string(spec["name"], f"{field}.name")
    raw_matchers = spec.get("matchers", [])
    if not isinstance(raw_matchers, str | list):
        raise entry.fail(f"{field}.matchers", 'must be a string like \'{code=~"2.."}\' or a list of them')
    try:
        matchers = parse_matchers(raw_matchers)
    except ConfigError as exc:
        raise entry.fail(f"{field}.matchers", str(exc)) from None
    return MetricSelector(name, matchers)


def _sli(entry: _Entry, raw: Any) -> SpanSli | MetricSli:
    spec = entry.mapping(raw, "sli", {"spans", "metrics"})
    if len(spec) != 1:
        raise entry.fail("sli", "give exactly one of spans, metrics")
    if "metrics" in spec:
        metrics = entry.mapping(spec["metrics"], "sli.metrics", {"good", "total"})
        for part in ("good", "total"):
            if part not in metrics:
                raise entry.fail(f"sli.metrics.{part}", "is required")
        return MetricSli(
            _selector(entry, metrics["good"], "sli.metrics.good"),
            _selector(entry, metrics["total"], "sli.metrics.total"),
        )
    span_keys = {"type", "service", "operation", "kind", "threshold_ms"}
    spans = entry.mapping(spec["spans"], "sli.spans", span_keys)
    kind_of = spans.get("type")
    if kind_of not in ("error_ratio", "latency"):
        raise entry.fail("sli.spans.type", f"must be error_ratio or latency, got {kind_of!r}")
    if "service" not in spans:
        raise entry.fail("sli.spans.service", "is required")
    service = entry.string(spans["service"], "sli.spans.service")
    operation = entry.string(spans["operation"], "sli.spans.operation") if "operation" in spans else None
    kind = spans.get("kind")
    if kind is not None and kind not in SPAN_KINDS:
        raise entry.fail("sli.spans.kind", f"must be one of {', '.join(SPAN_KINDS)}, got {kind!r}")
    threshold = spans.get("threshold_ms")
    if kind_of == "latency":
        if isinstance(threshold, bool) or not isinstance(threshold, int | Decimal) or threshold <= 0:
            raise entry.fail("sli.spans.threshold_ms", f"must be a positive number, got {threshold!r}")
    elif threshold is not None:
        raise entry.fail("sli.spans.threshold_ms", "only applies to type latency")
    return SpanSli(kind_of, service, operation, kind, float(threshold) if threshold is not None else None)


def parse_slos(document: Any, *, require_sli: bool = True) -> list[SloDefinition]:
    """Validate a parsed YAML document into SLO definitions.

    Args:
        document: the parsed YAML (a mapping with a `slos` list).
        require_sli: False for `obspipe slo replay`, whose buckets come from the input.

    Raises:
        ConfigError: one line naming the entry and the field.
    """
    if not isinstance(document, dict) or "slos" not in document:
        raise ConfigError("SLO file: top level must be a mapping with a 'slos:' list")
    entries = document["slos"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("SLO file: 'slos' must be a non-empty list")
    seen: set[str] = set()
    out = []
    for i, raw in enumerate(entries):
        label = raw.get("name") if isinstance(raw, dict) else None
        entry = _Entry(f"slos[{i}]" + (f" (name={label})" if isinstance(label, str) else ""))
        spec = entry.mapping(raw, "entry", _ENTRY_KEYS)
        for required in ("name", "objective"):
            if required not in spec:
                raise entry.fail(required, "is required")
        name = entry.string(spec["name"], "name")
        if name in seen:
            raise entry.fail("name", f"duplicate SLO name {name!r}")
        seen.add(name)
        try:
            objective, objective_text = parse_objective(spec["objective"])
        except ValueError as exc:
            raise entry.fail("objective", str(exc)) from None
        period_text = str(spec.get("period", DEFAULT_PERIOD))
        try:
            period = parse_period(period_text)
        except ValueError as exc:
            raise entry.fail("period", str(exc)) from None
        service = entry.string(spec["service"], "service") if "service" in spec else None
        if "sli" in spec:
            sli: SpanSli | MetricSli | None = _sli(entry, spec["sli"])
        elif require_sli:
            raise entry.fail("sli", "is required (only `obspipe slo replay` may omit it)")
        else:
            sli = None
        if service is None and isinstance(sli, SpanSli):
            service = sli.service
        runbook = entry.string(spec["runbook_url"], "runbook_url") if "runbook_url" in spec else ""
        out.append(SloDefinition(name, objective, objective_text, period, period_text, service, sli, runbook))
    return out


def load_slos(path: Path, *, require_sli: bool = True) -> list[SloDefinition]:
    """Read and validate an SLO file.

    Raises:
        ConfigError: unreadable file, bad YAML, or an invalid entry (one line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SLO file {path}: cannot read: {exc.strerror}") from None
    try:
        document = yaml.load(text, Loader=_ExactLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"SLO file {path}: invalid YAML{where}") from None
    try:
        return parse_slos(document, require_sli=require_sli)
    except ConfigError as exc:
        raise ConfigError(f"SLO file {path}: {exc}") from None
