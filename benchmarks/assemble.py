"""Trace-assembly benchmark: spans per CPU-second of the pure assembler and of decode + assemble + encode.

Rows (synthetic traces from pipeline.domain.synthetic: 6 services on 13 hosts, some clock skew,
some links; spans shuffled within a trace as a collector delivers them):
1. pure assembly (`assemble_trace`: tree, order, clock skew, self time, critical path,
   diagnostics, the output dict) of 10-span and of 200-span traces;
2. decode + group + assemble + `orjson.dumps` of each trace, record by record, from obspipe
   JSON arrays of 500 spans (`decode_spans`, validating), from obspipe's own bundles of 500
   spans (`decode_bundle`, the trace-assembler app's trusted path for its internal topic) and
   from OTLP protobuf requests of 500 spans; each record holds 50 whole 10-span traces;
3. the cross-trace propagation rules as the trace-assembler runs them (`PropagationWatch.check`
   once per release of 30 traces, spans decoded from bundles, evidence remembered across
   releases).
Baseline of every row, measured in the same run on the same spans: a bare `orjson.loads` of
the spans' obspipe JSON bundles plus a group-by-trace-id loop. Each figure is the median of
REPEATS runs (obspipe and baseline interleaved), in CPU time of this process (one core).
GC is tuned as the stream apps tune it (`gc.freeze()` after start-up, gen-0 threshold 50,000:
stream_apps/common.py::tune_gc); the default-GC figure of row 1 is printed too.

Acceptance (10-span traces): pure assembly >= 300k spans/s; obspipe JSON decode + assemble +
encode >= 150k spans/s. Run: .venv/bin/python benchmarks/assemble.py  (about 30 s)
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.domain.assembly import assemble_trace, group_by_trace
from pipeline.domain.codec import decode_bundle, decode_spans, encode_bundle, encode_spans
from pipeline.domain.propagation_rules import PropagationWatch
from pipeline.domain.span import Span
from pipeline.domain.synthetic import SyntheticTraces
from pipeline.testing.otlp import otlp_request_bytes

N_SPANS = 30_000
BUNDLE = 500
REPEATS = 7
GC_GEN0_THRESHOLD = 50_000  # as stream_apps/common.py
PROTO = "application/x-protobuf"


def traces_of(spans_per_trace: int) -> list[list[Span]]:
    source = SyntheticTraces(seed=1)
    return [source.trace(spans_per_trace) for _ in range(N_SPANS // spans_per_trace)]


def chunks(spans: list[Span], size: int) -> list[list[Span]]:
    return [spans[i : i + size] for i in range(0, len(spans), size)]


def baseline(bundles: list[bytes]) -> Callable[[], int]:
    """The floor: parse the JSON and group by trace id, nothing else."""

    def run() -> int:
        groups: dict[str, list[dict[str, object]]] = {}
        for data in bundles:
            for item in orjson.loads(data):
                tid = item["trace_id"]
                group = groups.get(tid)
                if group is None:
                    groups[tid] = [item]
                else:
                    group.append(item)
        return len(groups)

    return run


def pure(traces: list[list[Span]]) -> Callable[[], int]:
    def run() -> int:
        for spans in traces:
            assemble_trace(spans[0].trace_id, spans)
        return len(traces)

    return run


def end_to_end(records: list[bytes], decode: Callable[[bytes], list[Span]]) -> Callable[[], int]:
    """Per input record: decode, group by trace id, assemble and encode each trace.

    Each record holds whole traces (as a span-ingest bundle of a finished trace does), so the
    spans are assembled while still in cache, as in the stream app.
    """

    def run() -> int:
        size = 0
        for data in records:
            for tid, group in group_by_trace(decode(data)).items():
                size += len(orjson.dumps(assemble_trace(tid, group)))
        return size

    return run


def propagation(releases: list[list[Span]]) -> Callable[[], int]:
    """One `PropagationWatch.check` per release, one watch for all (as one worker has)."""

    def run() -> int:
        watch = PropagationWatch()
        return sum(len(watch.check(spans)) for spans in releases)

    return run


def measure(fn: Callable[[], int], base: Callable[[], int], n_spans: int) -> tuple[float, float]:
    """Median spans/s of `fn` and of `base`, runs interleaved so drift hits both alike."""
    fn()  # warm-up (imports, caches)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(REPEATS):
        for f, acc in ((fn, ours), (base, theirs)):
            gc.collect()
            start = time.process_time()
            f()
            acc.append(time.process_time() - start)
    return n_spans / statistics.median(ours), n_spans / statistics.median(theirs)


def main() -> None:
    t0 = time.perf_counter()
    small, large = traces_of(10), traces_of(200)
    flat = [s for t in small for s in t]
    json_small = [encode_spans(c) for c in chunks(flat, BUNDLE)]
    json_large = [encode_spans(c) for c in chunks([s for t in large for s in t], BUNDLE)]
    proto_small = [otlp_request_bytes(c) for c in chunks(flat, BUNDLE)]
    own_small = [encode_bundle(c) for c in chunks(flat, BUNDLE)]
    releases = [decode_bundle(encode_bundle(c)) for c in chunks(flat, 300)]  # 30 traces each
    cases: list[tuple[str, Callable[[], int], list[bytes], int]] = [
        ("pure assembly, 10-span traces", pure(small), json_small, len(flat)),
        ("pure assembly, 200-span traces", pure(large), json_large, N_SPANS),
        (
            "obspipe JSON decode_spans+assemble+encode, 10",
            end_to_end(json_small, decode_spans),
            json_small,
            len(flat),
        ),
        (
            "own bundles decode_bundle+assemble+encode, 10",
            end_to_end(own_small, decode_bundle),
            json_small,
            len(flat),
        ),
        (
            "OTLP protobuf decode+assemble+encode, 10",
            end_to_end(proto_small, lambda b: decode_spans(b, content_type=PROTO)),
            json_small,
            len(flat),
        ),
        ("propagation rules, releases of 30 10-span traces", propagation(releases), json_small, len(flat)),
    ]
    default_gc = measure(pure(small), baseline(json_small), len(flat))
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)

    header = f"{'case':50} {'spans/s':>10} {'us/span':>8} {'baseline/s':>11} {'ratio':>6}"
    print(
        f"trace assembly, one core (CPU time), median of {REPEATS}; "
        "baseline = orjson.loads + group by trace id"
    )
    print(header)
    print("-" * len(header))

    def row(name: str, ours: float, theirs: float) -> None:
        print(f"{name:50} {ours:10,.0f} {1e6 / ours:8.2f} {theirs:11,.0f} {ours / theirs:6.2f}")

    row("pure assembly, 10-span traces, default GC", *default_gc)
    for name, fn, base_input, n in cases:
        row(name, *measure(fn, baseline(base_input), n))
    print(f"({N_SPANS} spans per case; {time.perf_counter() - t0:.1f} s in all)")


if __name__ == "__main__":
    main()
