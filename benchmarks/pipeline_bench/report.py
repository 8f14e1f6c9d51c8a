"""The benchmark's table: every figure next to its same-run baseline or target."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .latency import bucket_quantile
from .profile import profile_table


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run measured."""

    total_spans: int
    plain_cpu_s: tuple[float, float]  # the baseline before and after the pipeline
    worker_cpu_s: list[float]  # span-ingest, trace-assembler
    wall_rate: float  # spans/s end to end, all batches fed at once
    latencies_ms: list[float]
    delivery_before: dict[float, float]
    delivery_after: dict[float, float]
    rss_per_span: float


def rows(f: Figures) -> list[tuple[str, str, str]]:
    """(label, value, target / note) for each line of the table."""
    total = f.total_spans
    plain_rate = total / (sum(f.plain_cpu_s) / 2)
    pipe_rate = total / sum(f.worker_cpu_s)
    lat = f.latencies_ms
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    before, after = f.delivery_before, f.delivery_after
    return [
        ("spans (OTLP protobuf, 100-500 per record, 10 per trace)", f"{total:,}", ""),
        (
            "baseline: plain loop, spans per CPU-second (mean of 2)",
            f"{plain_rate:,.0f}",
            f"runs {total / f.plain_cpu_s[0]:,.0f}, {total / f.plain_cpu_s[1]:,.0f}",
        ),
        (
            "pipeline: spans per CPU-second of both workers",
            f"{pipe_rate:,.0f}",
            f">= 50,000; wall {f.wall_rate:,.0f}/s",
        ),
        ("  span-ingest alone, spans per CPU-second", f"{total / f.worker_cpu_s[0]:,.0f}", ""),
        ("  trace-assembler alone, spans per CPU-second", f"{total / f.worker_cpu_s[1]:,.0f}", ""),
        ("ratio pipeline / baseline", f"{pipe_rate / plain_rate:.2f}", ">= 0.40"),
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
