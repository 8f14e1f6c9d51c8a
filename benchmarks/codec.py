"""Span decode/encode throughput per input format, next to a bare orjson baseline measured in the same run.

Baseline: `orjson.loads` of the same obspipe JSON records plus a group-by-trace-id loop, i.e. the
least any JSON span decoder must do. Every row decodes the same spans (10-span traces, ~470-byte
spans); the figure is the best of several interleaved rounds in CPU time of this process (one core),
with the inputs frozen out of the GC (`gc.freeze()`) and Python's default GC otherwise.

    .venv/bin/python benchmarks/codec.py [--traces N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.domain.codec import decode_bundle, decode_spans, encode_bundle, encode_spans
from pipeline.domain.span import Span

SPANS_PER_TRACE = 10
SERVICES = ["frontend", "orders", "payments", "inventory", "shipping"]
KINDS = ["SERVER", "CLIENT", "INTERNAL", "PRODUCER", "CONSUMER"]


def _trace(rng: random.Random, start: int) -> list[dict[str, Any]]:
    trace_id = f"{rng.getrandbits(128):032x}"
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(SPANS_PER_TRACE)]
    out = []
    for i, span_id in enumerate(ids):
        service = SERVICES[i % len(SERVICES)]
        begin = start + i * 1_000_000
        out.append(
            {
                "trace_id": trace_id,
                "span_id": span_id,
                "parent_span_id": ids[(i - 1) // 2] if i else None,
                "name": f"GET /api/{service}/{{id}}",
                "kind": KINDS[i % len(KINDS)],
                "start_time_unix_nano": begin,
                "end_time_unix_nano": begin + rng.randint(100_000, 50_000_000),
                "status": {"code": "ERROR" if i == 7 else "UNSET", "message": ""},
                "resource": {
                    "service.name": service,
                    "host.name": f"{service}-{i % 3}",
                    "service.version": "1.4.2",
                },
                "attributes": {
                    "http.request.method": "GET",
                    "http.route": f"/api/{service}/{{id}}",
                    "http.status": 200,
                },
                "links": [],
                "trace_state": "",
                "flags": 1,
            }
        )
    return out


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def _otlp_json(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """One request per trace, one resourceSpans per span's resource, as the Collector writes it."""
    resource_spans = []
    for s in spans:
        otlp = {
            "traceId": s["trace_id"],
            "spanId": s["span_id"],
            "parentSpanId": s["parent_span_id"] or "",
            "name": s["name"],
            "kind": KINDS.index(s["kind"]) + 1 if s["kind"] != "INTERNAL" else 1,
            "startTimeUnixNano": str(s["start_time_unix_nano"]),
            "endTimeUnixNano": str(s["end_time_unix_nano"]),
            "attributes": [{"key": k, "value": _any(v)} for k, v in s["attributes"].items()],
            "status": {"code": 2} if s["status"]["code"] == "ERROR" else {},
        }
        attrs = [{"key": k, "value": _any(v)} for k, v in s["resource"].items()]
        resource_spans.append({"resource": {"attributes": attrs}, "scopeSpans": [{"spans": [otlp]}]})
    return {"resourceSpans": resource_spans}


def _otlp_proto(spans: list[dict[str, Any]]) -> bytes:
    request = ExportTraceServiceRequest()
    for s in spans:
        rs = request.resource_spans.add()
        for k, v in s["resource"].items():
            rs.resource.attributes.add(key=k).value.string_value = v
        span = rs.scope_spans.add().spans.add(
            trace_id=bytes.fromhex(s["trace_id"]),
            span_id=bytes.fromhex(s["span_id"]),
            parent_span_id=bytes.fromhex(s["parent_span_id"]) if s["parent_span_id"] else b"",
            name=s["name"],
            kind=2,
            start_time_unix_nano=s["start_time_unix_nano"],
            end_time_unix_nano=s["end_time_unix_nano"],
        )
        for k, v in s["attributes"].items():
            value = span.attributes.add(key=k).value
            if isinstance(v, int):
                value.int_value = v
            else:
                value.string_value = v
    return request.SerializeToString()


def _baseline(records: list[bytes]) -> int:
    groups: dict[str, list[Any]] = defaultdict(list)
    n = 0
    for record in records:
        for obj in orjson.loads(record):
            groups[obj["trace_id"]].append(obj)
            n += 1
    return n


def _decode_all(records: list[bytes], decode: Callable[[bytes], list[Span]]) -> int:
    groups: dict[str, list[Span]] = defaultdict(list)
    n = 0
    for record in records:
        for span in decode(record):
            groups[span.trace_id].append(span)
            n += 1
    return n


def _interleaved(cases: list[tuple[str, Callable[[], int]]], rounds: int) -> list[tuple[float, int]]:
    """Best time and span count per case; rounds alternate the cases so that load from other
    processes on the machine falls on all of them alike."""
    best = [(float("inf"), 0)] * len(cases)
    for _ in range(rounds):
        for i, (_, fn) in enumerate(cases):
            t0 = time.process_time()
            count = fn()
            best[i] = (min(best[i][0], time.process_time() - t0), count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    rng = random.Random(7)
    traces = [_trace(rng, 1_700_000_000_000_000_000 + i * 10**9) for i in range(args.traces)]
    bundles = [orjson.dumps(t) for t in traces]
    singles = [orjson.dumps(s) for t in traces for s in t]
    otlp_json = [orjson.dumps(_otlp_json(t)) for t in traces]
    otlp_proto = [_otlp_proto(t) for t in traces]
    decoded = [decode_spans(b) for b in bundles]
    own = [encode_bundle(t) for t in decoded]
    span_bytes = sum(map(len, singles)) / len(singles)
    # Inputs live for the whole run: freeze them so full collections do not rescan them each round
    # (a worker does the same after start-up, DESIGN.md §6).
    gc.collect()
    gc.freeze()

    cases: list[tuple[str, Callable[[], int]]] = [
        ("baseline: orjson.loads + group by trace id", lambda: _baseline(bundles)),
        ("decode_spans, obspipe JSON array per trace", lambda: _decode_all(bundles, decode_spans)),
        ("decode_spans, one obspipe span per record", lambda: _decode_all(singles, decode_spans)),
        ("decode_bundle (own bundles, shape checks)", lambda: _decode_all(own, decode_bundle)),
        ("decode_spans, OTLP JSON per trace", lambda: _decode_all(otlp_json, decode_spans)),
        ("decode_spans, OTLP protobuf per trace", lambda: _decode_all(otlp_proto, decode_spans)),
        (
            "encode_spans (JSON), one array per trace",
            lambda: sum(len(encode_spans(t)) > 0 for t in decoded) * 10,
        ),
        ("encode_bundle, one bundle per trace", lambda: sum(len(encode_bundle(t)) > 0 for t in decoded) * 10),
    ]
    print(
        f"{args.traces} traces x {SPANS_PER_TRACE} spans, {span_bytes:.0f} bytes per obspipe span, "
        f"best of {args.rounds} interleaved rounds"
    )
    print(f"{'case':46s} {'spans/s':>10s} {'us/span':>8s} {'vs baseline':>12s}")
    base = 0.0
    for (name, _), (seconds, count) in zip(cases, _interleaved(cases, args.rounds), strict=True):
        rate = count / seconds
        base = base or rate
        print(f"{name:46s} {rate:10,.0f} {1e6 / rate:8.2f} {rate / base:11.2f}x")


if __name__ == "__main__":
    main()
