"""SLO YAML files: exact objectives, periods, SLIs and one-line errors naming entry and field."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from pipeline.domain.slo.definitions import MetricSli, SpanSli, load_slos, parse_period
from pipeline.errors import ConfigError

GOOD = """
slos:
  - name: checkout-availability
    objective: 99.9
    service: checkout
    sli:
      spans: {type: error_ratio, service: checkout, operation: "POST /pay", kind: SERVER}
  - name: checkout-latency
    objective: 99
    period: 7d
    sli:
      spans: {type: latency, service: checkout, threshold_ms: 300}
  - name: api
    objective: "99.95"
    period: 12h
    sli:
      metrics:
        good: {name: http_requests_total, matchers: ['code=~"2..|3.."']}
        total: {name: http_requests_total}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(text)
    return path


def test_valid_file_parses_objectives_exactly(tmp_path: Path) -> None:
    """99.9 is exactly 999/1000 (not a float), periods convert to minutes, SLIs are typed."""
    availability, latency, api = load_slos(write(tmp_path, GOOD))
    assert availability.objective == Fraction(999, 1000)
    assert availability.period_minutes == 30 * 1440 and availability.period_text == "30d"
    assert isinstance(availability.sli, SpanSli) and availability.sli.operation == "POST /pay"
    assert latency.objective == Fraction(99, 100) and latency.period_minutes == 7 * 1440
    assert latency.service == "checkout"  # taken from the span SLI
    assert isinstance(latency.sli, SpanSli) and latency.sli.threshold_ms == 300
    assert api.objective == Fraction(9995, 10000) and api.period_minutes == 720
    assert isinstance(api.sli, MetricSli)
    assert api.sli.good.matches("http_requests_total", {"code": "204"})
    assert not api.sli.good.matches("http_requests_total", {"code": "500"})
    assert api.sli.total.matches("http_requests_total", {"code": "500"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, objective: 100, sli: {spans: {type: error_ratio, service: s}}}",
         "slos[0] (name=a): objective: must be strictly between 0 and 100"),
        ("{name: a, objective: high}", "slos[0] (name=a): objective: must be a percentage"),
        ("{name: a, objective: 99, period: 30days, sli: {spans: {type: error_ratio, service: s}}}",
         "slos[0] (name=a): period: must look like 30d"),
        ("{name: a, objective: 99}", "slos[0] (name=a): sli: is required"),
        ("{name: a, objective: 99, sli: {spans: {type: latency, service: s}}}",
         "slos[0] (name=a): sli.spans.threshold_ms: must be a positive number"),
        ("{name: a, objective: 99, sli: {spans: {type: error_ratio, service: s, kind: server}}}",
         "slos[0] (name=a): sli.spans.kind: must be one of"),
        ("{name: a, objective: 99, sli: {metrics: {good: {name: g}}}}",
         "slos[0] (name=a): sli.metrics.total: is required"),
        ("{name: a, objective: 99, sli: {metrics: {good: {name: g, matchers: ['c=~\"(\"']},"
         " total: {name: t}}}}",
         "slos[0] (name=a): sli.metrics.good.matchers: "),
        ("{objective: 99}", "slos[0]: name: is required"),
        ("{name: a, objective: 99, colour: red}", "slos[0] (name=a): entry: unknown key 'colour'"),
    ],
)
def test_invalid_entries_give_one_line_naming_entry_and_field(
    tmp_path: Path, entry: str, message: str
) -> None:
    """Each mistake raises ConfigError with one line that names the entry and the field."""
    with pytest.raises(ConfigError) as err:
        load_slos(write(tmp_path, f"slos:\n  - {entry}\n"))
    text = str(err.value)
    assert "\n" not in text
    assert message in text


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    """Two SLOs with the same name are an error naming the second entry."""
    text = "slos:\n  - {name: a, objective: 99}\n  - {name: a, objective: 98}\n"
    with pytest.raises(ConfigError, match=r"slos\[1\] \(name=a\): name: duplicate"):
        load_slos(write(tmp_path, text), require_sli=False)


def test_sli_may_be_omitted_for_replay(tmp_path: Path) -> None:
    """With require_sli=False (obspipe slo replay) an SLO without sli is accepted."""
    (only,) = load_slos(write(tmp_path, "slos:\n  - {name: a, objective: 99.5}\n"), require_sli=False)
    assert only.sli is None and only.objective == Fraction(995, 1000)


def test_not_yaml_and_missing_list(tmp_path: Path) -> None:
    """Bad YAML names the line; a file without `slos:` says what is expected."""
    with pytest.raises(ConfigError, match="invalid YAML at line 3"):
        load_slos(write(tmp_path, "slos:\n  - [unclosed\n"))
    with pytest.raises(ConfigError, match="'slos:' list"):
        load_slos(write(tmp_path, "other: 1\n"))


def test_period_units() -> None:
    """Periods accept m, h, d and w."""
    assert [parse_period(p) for p in ("90m", "12h", "30d", "2w")] == [90, 720, 43200, 20160]
