"""Dashboard: how many output records per second its in-memory views absorb, on one core.

The dashboard reads every record of traces.assembled, alerts.pages and slo.status; it must keep
up with the pipeline without sampling. Measured per record kind:
- baseline: `orjson.loads` of the same bytes (the least any consumer of the topic pays);
- ingest: `DashboardState.ingest` (decode, validate, update the bounded views);
- ingest + drain: the same plus one `drain()` (what is sent to browsers) per 500 records,
  as the server does every 0.5 s at ~1,000 records/s.

Run: .venv/bin/python benchmarks/dashboard.py [--records 20000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.dashboard.state import DashboardState, Kind
from pipeline.testing.dashboard_records import linked_traces, page_record, slo_record

DRAIN_EVERY = 500


def _records(kind: Kind, n: int) -> list[bytes]:
    base = time.time_ns()
    if kind == "traces":
        out = []
        for i in range(n):
            t = linked_traces(base + i, checkout_id=f"{i:032x}", batch_id=f"{i + 10**9:032x}")
            out.append(orjson.dumps(t.checkout))
        return out
    if kind == "pages":
        return [orjson.dumps(page_record("page", "symptom", f"A{i % 50}", "svc", at="t")) for i in range(n)]
    return [
        orjson.dumps(slo_record(f"slo-{i % 20}", {"5m": 1.0, "1h": 2.0, "6h": 0.5, "3d": 0.2}, 0.8,
                                tier="normal", time_unix_nano=base + i))
        for i in range(n)
    ]


def _rate(fn: Callable[[], None], n: int) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    n = args.records
    print(f"{'records':<10}{'baseline loads/s':>18}{'ingest/s':>12}{'ingest+drain/s':>16}{'vs baseline':>13}")
    for kind in ("traces", "pages", "slo"):
        data = _records(kind, n)

        def baseline(data: list[bytes] = data) -> None:
            for raw in data:
                orjson.loads(raw)

        def ingest(data: list[bytes] = data, kind: Kind = kind) -> None:
            state = DashboardState()
            for raw in data:
                state.ingest(kind, raw, 0)

        def ingest_drain(data: list[bytes] = data, kind: Kind = kind) -> None:
            state = DashboardState()
            for i, raw in enumerate(data, 1):
                state.ingest(kind, raw, 0)
                if i % DRAIN_EVERY == 0:
                    state.drain()

        base, plain, drained = _rate(baseline, n), _rate(ingest, n), _rate(ingest_drain, n)
        print(f"{kind:<10}{base:>18,.0f}{plain:>12,.0f}{drained:>16,.0f}{drained / base:>12.2f}x")


if __name__ == "__main__":
    main()
