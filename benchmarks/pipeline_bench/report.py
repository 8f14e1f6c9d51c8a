"""The benchmark's table: every figure next to its same-run baseline or target."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .latency import bucket_quantile
from .profile import profile_table


@dataclass(frozen=True, slots=True)
class Throughput:
    """One throughput run: the baseline before and after the pipeline, and the pipeline."""

    spans: int
    plain_cpu_s: tuple[float, float]
    worker_cpu_s: list[float]  # span-ingest, trace-assembler
    wall_rate: float  # spans/s end to end, all batches fed at once


@dataclass(frozen=True, slots=True)
class Figures:
    """What the benchmark measured."""

    runs: list[Throughput]
    latency_rate: float
    latencies_ms: list[float]
    delivery_before: dict[float, float]
    delivery_after: dict[float, float]
    rss_per_span: float
    idle_cpu_pct: list[float]  # span-ingest, trace-assembler


def _median_range(values: list[float], fmt: str) -> tuple[str, str]:
    """The median and, for several runs, the range of `values`, formatted."""
    median = format(statistics.median(values), fmt)
    span = f"{format(min(values), fmt)}-{format(max(values), fmt)}" if len(values) > 1 else ""
    return median, span


def rows(f: Figures) -> list[tuple[str, str, str]]:
    """(label, value, target / note) for each line of the table; throughput as medians of runs."""
    plain = [r.spans / (sum(r.plain_cpu_s) / 2) for r in f.runs]
    pipe = [r.spans / sum(r.worker_cpu_s) for r in f.runs]
    ingest = [r.spans / r.worker_cpu_s[0] for r in f.runs]
    assembler = [r.spans / r.worker_cpu_s[1] for r in f.runs]
    ratio = [p / b for p, b in zip(pipe, plain, strict=True)]
    lat = f.latencies_ms
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    before, after = f.delivery_before, f.delivery_after

    def line(label: str, values: list[float], fmt: str, target: str = "") -> tuple[str, str, str]:
        median, span = _median_range(values, fmt)
        note = "; ".join(x for x in (target, f"runs {span}" if span else "") if x)
        return (label, median, note)

    return [
        line("spans per run (OTLP protobuf, 100-500 per record, 10/trace)", [r.spans for r in f.runs], ","),
        line("baseline: plain loop, spans per CPU-second (median)", plain, ",.0f"),
        line("pipeline: spans per CPU-second of both workers (median)", pipe, ",.0f", ">= 50,000"),
        line("  span-ingest alone, spans per CPU-second", ingest, ",.0f"),
        line("  trace-assembler alone, spans per CPU-second", assembler, ",.0f"),
        line("ratio pipeline / baseline (median of the runs' ratios)", ratio, ".2f", ">= 0.40"),
        ("end-to-end wall rate, spans/s (first run; all batches at once)", f"{f.runs[0].wall_rate:,.0f}", ""),
        ("latency load, spans/s (half the warm-up's end-to-end rate)", f"{f.latency_rate:,.0f}", ""),
        ("release -> read p50, ms (half load; reader fetch wait 20 ms)", f"{q[49]:.1f}", ""),
        ("release -> read p99, ms (half load)", f"{q[98]:.1f}", f"<= 250; {len(lat)} traces"),
        (
            "release -> delivery confirmed p50, ms (worker histogram)",
            f"<= {bucket_quantile(before, after, 0.5):g}",
            "",
        ),
        (
            "release -> delivery confirmed p99, ms (worker histogram)",
            f"<= {bucket_quantile(before, after, 0.99):g}",
            "",
        ),
        (
            "idle workers, % of a core each (ingest / assembler)",
            " / ".join(f"{pct:.1f}" for pct in f.idle_cpu_pct),
            "10 s with no input",
        ),
        ("RSS per open span, bytes (100k spans in windows)", f"{f.rss_per_span:,.0f}", "<= 1,536"),
        ("RSS per 100k open spans, MB", f"{f.rss_per_span * 100_000 / 1e6:.1f}", ""),
    ]


def print_report(figures: Figures) -> None:
    print(f"\n{'figure':<58} {'value':>12}  target / note")
    for label, value, note in rows(figures):
        print(f"{label:<58} {value:>12}  {note}")


def print_profiles(run_dir: Path, worker_names: list[str]) -> None:
    """The hot spots of each worker py-spy sampled (run with --profile)."""
    for name in worker_names:
        folded = run_dir / f"{name}.folded"
        if folded.exists():
            print(f"\nprofile of {name} (py-spy; self %, inclusive %):")
            for frame, self_pct, incl_pct in profile_table(folded):
                print(f"  {self_pct:5.1f} {incl_pct:5.1f}  {frame[:110]}")
