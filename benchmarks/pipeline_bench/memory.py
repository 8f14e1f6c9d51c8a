"""Resident memory per span held open in the assembler's window store."""

from __future__ import annotations

import gc
from pathlib import Path

from pipeline.domain.codec import decode_bundle, encode_bundle
from pipeline.domain.synthetic import SyntheticTraces
from pipeline.domain.windows import TraceWindows, WindowOptions

from .inputs import SPANS_PER_TRACE


def rss_kb() -> int:
    """This process's resident set size, in KiB, from /proc/self/status (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def rss_per_open_span(n_spans: int = 100_000) -> float:
    """Bytes of RSS per span held open in the window store (spans decoded from bundles)."""
    source = SyntheticTraces(5)
    bundles = [
        encode_bundle([s for _ in range(50) for s in source.trace(SPANS_PER_TRACE)])
        for _ in range(n_spans // 500)
    ]
    windows = TraceWindows(WindowOptions(idle_timeout_s=1e9, max_trace_age_s=1e9))
    gc.collect()
    before = rss_kb()
    for i, bundle in enumerate(bundles):
        windows.add_spans(("spans", 0, i), decode_bundle(bundle), now=0.0)
    gc.collect()
    after = rss_kb()
    assert windows.open_spans == n_spans
    return (after - before) * 1024 / n_spans
