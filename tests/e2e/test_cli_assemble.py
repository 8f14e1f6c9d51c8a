"""`obspipe assemble`, run as the real console script on files and stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.domain.codec import span_to_dict
from pipeline.domain.span import Span
from pipeline.testing.otlp import otlp_request_bytes
from pipeline.testing.schemas import validator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
OBSPIPE = str(Path(sys.executable).with_name("obspipe"))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
US = 1_000
T0 = 1_700_000_000_000_000_000


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSPIPE_")}
    return subprocess.run(
        [OBSPIPE, "assemble", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def records(out: bytes) -> list[dict[str, Any]]:
    found = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    for rec in found:
        validator("assembled_trace.v1").validate(rec)
    return found


def skewed_pair() -> list[Span]:
    """Parent [100,200] µs on host A; child [80,120] µs on host B (its clock is behind)."""
    res_a = {"service.name": "web", "host.name": "A"}
    res_b = {"service.name": "db", "host.name": "B"}
    return [
        Span(TRACE, "a000000000000001", "GET /", T0 + 100 * US, T0 + 200 * US, "web", resource=res_a),
        Span(
            TRACE,
            "a000000000000002",
            "SELECT",
            T0 + 80 * US,
            T0 + 120 * US,
            "db",
            "a000000000000001",
            resource=res_b,
        ),
    ]


def as_lines(spans: list[Span]) -> bytes:
    return b"".join(orjson.dumps(span_to_dict(s)) + b"\n" for s in spans)


def child(rec: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in rec["spans"] if s["span_id"] == "a000000000000002")


def test_hand_worked_clock_skew_case_from_stdin() -> None:
    """The B-host child is centred in its parent: latency (100-40)/2 = 30 µs, so it moves to [130,170]."""
    proc = run("-", stdin=as_lines(skewed_pair()))
    assert proc.returncode == 0, proc.stderr
    [rec] = records(proc.stdout)
    c = child(rec)
    assert (c["adjusted_start_time_unix_nano"], c["adjusted_end_time_unix_nano"]) == (
        T0 + 130 * US,
        T0 + 170 * US,
    )
    assert c["clock_skew_ns"] == 50 * US
    assert c["start_time_unix_nano"] == T0 + 80 * US
    assert [d["code"] for d in rec["diagnostics"]] == ["CLOCK_SKEW_ADJUSTED"]
    assert [p["span_id"][-1] for p in rec["critical_path"]] == ["1", "2", "1"]


def test_max_clock_skew_flag_refuses_or_disables_correction(tmp_path: Path) -> None:
    """--max-clock-skew-us 40 refuses the needed 50 µs (reported); 50 applies it; 0 disables silently."""
    path = tmp_path / "spans.jsonl"
    path.write_bytes(as_lines(skewed_pair()))
    [refused] = records(run(str(path), "--max-clock-skew-us", "40").stdout)
    assert child(refused)["clock_skew_ns"] == 0
    assert [d["code"] for d in refused["diagnostics"]] == ["CLOCK_SKEW_EXCEEDED"]
    [applied] = records(run(str(path), "--max-clock-skew-us", "50").stdout)
    assert child(applied)["clock_skew_ns"] == 50 * US
    [disabled] = records(run(str(path), "--max-clock-skew-us", "0").stdout)
    assert child(disabled)["clock_skew_ns"] == 0 and disabled["diagnostics"] == []


def test_bad_records_are_reported_by_line_and_the_rest_is_assembled() -> None:
    """A malformed span and a non-JSON line give one stderr line each; good spans still come out; exit 1."""
    good = as_lines(skewed_pair()).splitlines()
    data = (
        b"\n".join([good[0], b'{"trace_id": "zz", "span_id": "a000000000000009"}', b"not json", good[1]])
        + b"\n"
    )
    proc = run("-", stdin=data)
    assert proc.returncode == 1
    err = proc.stderr.decode().splitlines()
    assert len(err) == 2
    assert "line 2: validation_error: span.trace_id" in err[0]
    assert "line 3: decode_error:" in err[1]
    [rec] = records(proc.stdout)
    assert rec["summary"]["span_count"] == 2


def test_missing_file_is_one_line_error() -> None:
    """A file that does not exist gives one line on stderr naming it, and a non-zero exit."""
    proc = run("no/such/file.jsonl")
    assert proc.returncode != 0
    assert proc.stdout == b""
    assert proc.stderr.decode().strip().splitlines() == [
        "obspipe: error: cannot read no/such/file.jsonl: No such file or directory"
    ]


def test_bundled_samples_assemble_into_valid_records() -> None:
    """samples/spans.jsonl (obspipe JSON lines) and samples/otlp_batch.json (OTLP JSON) assemble cleanly."""
    spans_proc = run("samples/spans.jsonl")
    assert spans_proc.returncode == 0, spans_proc.stderr
    recs = records(spans_proc.stdout)
    assert len(recs) >= 2
    n_lines = len([ln for ln in (ROOT / "samples" / "spans.jsonl").read_bytes().splitlines() if ln.strip()])
    assert sum(r["summary"]["span_count"] for r in recs) == n_lines
    otlp_proc = run("samples/otlp_batch.json")
    assert otlp_proc.returncode == 0, otlp_proc.stderr
    assert records(otlp_proc.stdout)


def test_otlp_protobuf_input_from_stdin() -> None:
    """An OTLP protobuf ExportTraceServiceRequest on stdin assembles like the same spans as JSON."""
    proc = run("-", stdin=otlp_request_bytes(skewed_pair()))
    assert proc.returncode == 0, proc.stderr
    [rec] = records(proc.stdout)
    assert child(rec)["clock_skew_ns"] == 50 * US


def test_summary_is_readable() -> None:
    """--summary prints the trace id, root, span count, duration, corrections and diagnostics per trace."""
    proc = run("-", "--summary", stdin=as_lines(skewed_pair()))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert f"trace {TRACE}  root web: GET /  2 spans  0.100 ms" in text
    assert "clock skew: 1 corrections, 1 spans shifted (largest 0.050 ms)" in text
    assert "CLOCK_SKEW_ADJUSTED  a000000000000002" in text


def test_help_explains_the_command() -> None:
    """`obspipe assemble --help` names the input formats, the skew option and the error format."""
    proc = subprocess.run(
        [OBSPIPE, "assemble", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0
    for words in ("OTLP protobuf", "--max-clock-skew-us", "line N: <reason>: <message>", "--summary"):
        assert words in proc.stdout


CALLER_TRACE = "1bf92f3577b34da6a3ce929d0e0e4736"
CALLEE_TRACE = "2bf92f3577b34da6a3ce929d0e0e4736"


def lost_context_pair(client_answered: bool) -> list[Span]:
    """web's CLIENT call to payments [110,190] µs, and a payments SERVER root of another trace at 120 µs.

    With `client_answered`, the caller's own trace also holds a SERVER child of the CLIENT span
    (the call kept its context), so the other trace's root is not explained by it.
    """
    web = {"service.name": "web", "host.name": "A"}
    pay = {"service.name": "payments", "host.name": "B"}
    spans = [
        Span(CALLER_TRACE, "c000000000000001", "GET /checkout", T0 + 100 * US, T0 + 200 * US, "web",
             kind="SERVER", resource=web),
        Span(CALLER_TRACE, "c000000000000002", "POST /pay", T0 + 110 * US, T0 + 190 * US, "web",
             "c000000000000001", kind="CLIENT", resource=web, attributes={"peer.service": "payments"}),
        Span(CALLEE_TRACE, "d000000000000001", "POST /pay", T0 + 120 * US, T0 + 180 * US, "payments",
             kind="SERVER", resource=pay),
    ]  # fmt: skip
    if client_answered:
        spans.append(
            Span(CALLER_TRACE, "c000000000000003", "POST /pay", T0 + 115 * US, T0 + 185 * US, "payments",
                 "c000000000000002", kind="SERVER", resource=pay)
        )  # fmt: skip
    return spans


def test_server_root_called_by_an_unanswered_client_of_another_trace_is_lost_context() -> None:
    """A SERVER root inside an unanswered CLIENT call to it from another trace gets LOST_CONTEXT_SUSPECTED."""
    proc = run("-", stdin=as_lines(lost_context_pair(client_answered=False)))
    assert proc.returncode == 0, proc.stderr
    by_trace = {r["trace_id"]: r for r in records(proc.stdout)}
    assert by_trace[CALLER_TRACE]["diagnostics"] == []
    [diag] = by_trace[CALLEE_TRACE]["diagnostics"]
    assert diag["code"] == "LOST_CONTEXT_SUSPECTED"
    assert diag["span_id"] == "d000000000000001"
    assert "c000000000000002" in diag["message"] and CALLER_TRACE in diag["message"]


def test_client_answered_in_its_own_trace_explains_no_other_root() -> None:
    """When the CLIENT span has its SERVER child in its own trace, the other trace's root is not flagged."""
    proc = run("-", stdin=as_lines(lost_context_pair(client_answered=True)))
    assert proc.returncode == 0, proc.stderr
    recs = records(proc.stdout)
    assert len(recs) == 2
    assert all(r["diagnostics"] == [] for r in recs)


def test_summary_lists_cross_trace_diagnostics() -> None:
    """--summary shows the LOST_CONTEXT_SUSPECTED line under the callee's trace."""
    proc = run("-", "--summary", stdin=as_lines(lost_context_pair(client_answered=False)))
    assert proc.returncode == 0, proc.stderr
    callee = next(block for block in proc.stdout.decode().split("\n\n") if CALLEE_TRACE in block)
    assert "LOST_CONTEXT_SUSPECTED  d000000000000001" in callee
