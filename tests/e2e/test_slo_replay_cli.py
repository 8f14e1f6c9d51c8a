"""`obspipe slo replay` run as a command: statuses per SLO per minute, alerts, bad-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OBSPIPE = str(Path(sys.executable).with_name("obspipe"))
MINUTE = 60_000_000_000
T0 = 28_333_333 * MINUTE
SLOS = """
slos:
  - name: checkout
    objective: 99.9
    service: checkout
  - name: search
    objective: 99
    period: 7d
"""


def run(tmp_path: Path, lines: list[bytes], *args: str) -> subprocess.CompletedProcess[bytes]:
    slos = tmp_path / "slos.yaml"
    slos.write_text(SLOS)
    return subprocess.run(
        [OBSPIPE, "slo", "replay", "--slos", str(slos), *args, "-"],
        input=b"\n".join(lines) + b"\n", capture_output=True, timeout=100, check=False,
    )


def bucket(slo: str, minute: int, good: int, total: int) -> bytes:
    return orjson.dumps({"slo": slo, "time_unix_nano": T0 + minute * MINUTE, "good": good, "total": total})


def test_replay_prints_one_status_per_slo_per_minute_and_pages_on_outage(tmp_path: Path) -> None:
    """Two SLOs over minutes 0..2 give 6 records; a checkout outage in minute 2 pages (1 h burn 333)."""
    lines = [bucket("checkout", m, 1000, 1000) for m in range(2)] + [bucket("checkout", 2, 0, 1000)]
    lines.append(bucket("search", 1, 99, 100))
    result = run(tmp_path, lines, "--alerts")
    assert result.returncode == 0, result.stderr
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    statuses = [r for r in out if "schema" in r]
    assert [(r["slo"], r["evaluated_at_unix_nano"]) for r in statuses] == [
        (slo, T0 + (m + 1) * MINUTE) for m in range(3) for slo in ("checkout", "search")
    ]
    last = statuses[4]
    assert last["burn_rates"]["5m"] == pytest.approx(1000 / 3000 / 0.001)
    assert "page_1h_5m" in last["firing"] and last["policy_tier"] == "exhausted"
    assert statuses[0]["burn_rates"]["5m"] == 0.0 and statuses[1]["burn_rates"]["5m"] is None
    assert statuses[3]["burn_rates"]["1h"] == pytest.approx(1.0)  # search: 1 % errors at 99 %
    alerts = [r["alert"] for r in out if "alert" in r]
    assert {a["labels"]["window"] for a in alerts} >= {"page_1h_5m"}
    assert all(a["status"] == "firing" and a["labels"]["service"] == "checkout" for a in alerts)


def test_bad_lines_are_reported_with_line_numbers_and_exit_non_zero(tmp_path: Path) -> None:
    """Each bad line gives one stderr line naming its number; nothing is printed on stdout."""
    lines = [bucket("checkout", 0, 1, 1), b"{oops", bucket("nope", 0, 1, 1), bucket("checkout", 1, 5, 2)]
    result = run(tmp_path, lines)
    assert result.returncode == 1
    assert result.stdout == b""
    errors = result.stderr.decode().splitlines()
    assert errors[0].startswith("obspipe slo replay: line 2: not JSON")
    assert errors[1].startswith("obspipe slo replay: line 3: unknown SLO 'nope'")
    assert errors[2].startswith("obspipe slo replay: line 4: good (5) exceeds total (2)")


def test_invalid_slo_file_is_one_line_error(tmp_path: Path) -> None:
    """A bad SLO file stops the command with one line naming the entry and field, exit code 2."""
    slos = tmp_path / "bad.yaml"
    slos.write_text("slos:\n  - {name: x, objective: 101}\n")
    result = subprocess.run([OBSPIPE, "slo", "replay", "--slos", str(slos)], input=b"", capture_output=True,
                            timeout=100, check=False)
    assert result.returncode == 2
    expected = "slos[0] (name=x): objective: must be strictly between 0 and 100 (percent), got 101"
    assert result.stderr.decode().strip().endswith(expected)
