"""`obspipe alerts classify|replay`, `obspipe oncall stats` and `obspipe silence` run as commands."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from pipeline.testing.kafka import KafkaTestClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OBSPIPE = str(Path(sys.executable).with_name("obspipe"))
SCHEDULE = """
timezones: {alice: Europe/Berlin, bob: America/New_York}
rotations:
  - {id: primary, participants: [alice, bob], shift_length: 12h, handoff: "08:00",
     time_zone: Europe/Berlin, start: 2026-11-23}
"""


def run(args: list[str], stdin: bytes = b"",
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OBSPIPE_")}
    return subprocess.run([OBSPIPE, *args], input=stdin, capture_output=True, timeout=100, check=False,
                          env={**clean, **(env or {})})


def lines(*objs: object) -> bytes:
    return b"\n".join(orjson.dumps(o) for o in objs) + b"\n"


def test_classify_prints_one_line_per_alert_and_reports_bad_lines() -> None:
    """A webhook payload yields one verdict per alert; a bad line is named on stderr, exit code 1."""
    payload = {"version": "4", "alerts": [
        {"labels": {"alertname": "HighErrorRate", "service": "api"}, "startsAt": "2026-11-26T10:00:00Z",
         "annotations": {"runbook_url": "r"}},
        {"labels": {"alertname": "NodeHighCPU"}, "startsAt": "2026-11-26T10:00:00Z",
         "expr": "avg(rate(node_cpu_seconds_total[5m])) > 0.9"}]}
    result = run(["alerts", "classify", "-"], lines(payload) + b"{oops\n")
    out = [orjson.loads(x) for x in result.stdout.splitlines()]
    assert [(o["class"], o["category"], o["page"]) for o in out] == [
        ("symptom", "error_rate", True), ("cause", "resource_utilisation", False)]
    assert out[1]["runbook_missing"] is True and len(out[0]["fingerprint"]) == 16
    assert result.returncode == 1 and b"line 2" in result.stderr


def test_replay_prints_decisions_then_shift_stats(tmp_path: Path) -> None:
    """An SLO burn alert at 21:30 UTC pages bob (20:00-08:00 Berlin shift); a 1-minute CPU blip is
    suppressed as transient; the shift line counts one page and one suppression."""
    (tmp_path / "alerts.yaml").write_text("route: {group_wait: 30s}\n")
    (tmp_path / "schedule.yaml").write_text(SCHEDULE)
    slo = {"labels": {"alertname": "SLOBurnRate", "service": "checkout", "slo": "checkout-availability"},
           "startsAt": "2026-11-26T21:30:00Z"}
    cpu = {"labels": {"alertname": "HighCPUUsage", "service": "checkout"}, "startsAt": "2026-11-26T21:31:00Z"}
    cpu_end = {**cpu, "status": "resolved", "endsAt": "2026-11-26T21:32:00Z"}
    result = run(["alerts", "replay", "--config", str(tmp_path / "alerts.yaml"), "--schedule",
                  str(tmp_path / "schedule.yaml"), "-"], lines(slo, cpu, cpu_end))
    assert result.returncode == 0, result.stderr
    out = [orjson.loads(x) for x in result.stdout.splitlines()]
    decisions = [o for o in out if o["schema"] == "alert_decision/v1"]
    shifts = [o for o in out if o["schema"] == "oncall_stats/v1"]
    page = decisions[0]
    # startsAt 21:30 + transient window 120 s: the page goes out at 21:32.
    assert (page["decision"], page["oncall"], page["at"]) == ("page", "bob", "2026-11-26T21:32:00Z")
    assert [(d["decision"], d["reason"]) for d in decisions[1:2]] == [("suppressed", "transient")]
    assert len(shifts) == 1 and shifts[0]["shift_id"] == "primary/2026-11-26T20:00"
    assert (shifts[0]["pages"], shifts[0]["suppressed"]) == (1, {"transient": 1})


def test_oncall_stats_counts_per_shift_and_outside(tmp_path: Path) -> None:
    """Pages at 06:59:59Z and 07:00Z fall either side of the 08:00 Berlin handoff; one is outside."""
    (tmp_path / "schedule.yaml").write_text(SCHEDULE)
    pages = lines(
        {"id": "p1", "at": "2026-11-26T06:59:59Z", "service": "a", "actionable": True, "incident_id": "i"},
        {"id": "p2", "at": "2026-11-26T07:00:00Z", "service": "a", "actionable": False, "incident_id": "i"},
        {"id": "p3", "at": "2020-01-01T00:00:00Z", "service": "a", "actionable": True})
    result = run(["oncall", "stats", "--schedule", str(tmp_path / "schedule.yaml"), "-"], pages)
    assert result.returncode == 0, result.stderr
    out = [orjson.loads(x) for x in result.stdout.splitlines()]
    keys = ("shift_id", "oncall", "pages", "night_pages", "non_actionable")
    figures = [tuple(o[k] for k in keys) for o in out[:2]]
    assert figures == [("primary/2026-11-25T20:00", "bob", 1, 1, 0),
                       ("primary/2026-11-26T08:00", "alice", 1, 0, 1)]
    assert out[2] == {"outside_shifts": {"pages": 1, "ids": ["p3"]}}


def test_bad_schedule_is_one_line(tmp_path: Path) -> None:
    """A schedule with an unknown zone fails with one line naming it and exit code 2."""
    (tmp_path / "s.yaml").write_text("timezones: {a: Nowhere/Town}\nshifts: []\n")
    result = run(["oncall", "stats", "--schedule", str(tmp_path / "s.yaml"), "-"])
    assert result.returncode == 2
    assert result.stderr.decode().strip().count("\n") == 0 and b"timezones.a" in result.stderr


def test_silence_add_list_expire(redis_url: str) -> None:
    """A silence added with the CLI is listed as active, and after expire is listed only with --all."""
    env = {"OBSPIPE_REDIS_URL": redis_url, "OBSPIPE_ALERT_STATE_PREFIX": f"cli-{uuid.uuid4().hex[:8]}"}
    added = run(["silence", "add", 'alertname="HighCPUUsage"', 'env=~"stag.*"', "--duration", "2h",
                 "--author", "me", "--comment", "load test"], env=env)
    assert added.returncode == 0, added.stderr
    silence = orjson.loads(added.stdout)
    assert silence["matchers"] == '{alertname="HighCPUUsage", env=~"stag.*"}'
    assert silence["status"]["state"] == "active"
    listed = [orjson.loads(x) for x in run(["silence", "list"], env=env).stdout.splitlines()]
    assert [s["id"] for s in listed] == [silence["id"]]
    assert run(["silence", "expire", silence["id"]], env=env).returncode == 0
    assert run(["silence", "list"], env=env).stdout == b""
    everything = [orjson.loads(x) for x in run(["silence", "list", "--all"], env=env).stdout.splitlines()]
    assert everything[0]["status"]["state"] == "expired"
    bad = run(["silence", "add", 'alertname=~"("'], env=env)
    assert bad.returncode == 2 and b"invalid regex" in bad.stderr


def test_tail_prints_records_of_alerts_pages(kafka: KafkaTestClient, kafka_bootstrap: str) -> None:
    """`alerts tail --from-beginning --max 2` prints the two decisions already on the topic."""
    topic = kafka.create_topic(f"pages-{uuid.uuid4().hex[:8]}")
    values = [orjson.dumps({"id": f"g-{i}", "decision": "page"}) for i in (1, 2)]
    kafka.produce(topic, values, key=b"g")
    env = {"OBSPIPE_KAFKA_BOOTSTRAP": kafka_bootstrap, "OBSPIPE_TOPIC_PAGES": topic}
    result = run(["alerts", "tail", "--from-beginning", "--max", "2", "--timeout", "60"], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == values


def test_shipped_examples_replay() -> None:
    """examples/alerting replays as docs/alerting.md describes: SLO page, CPU blip suppressed,
    resolution, crash-loop ticket, batch page, and the over-target meta-alert ticket for bob's shift."""
    ex = Path(__file__).resolve().parents[2] / "examples" / "alerting"
    result = run(["alerts", "replay", "--config", str(ex / "alerts.yaml"),
                  "--schedule", str(ex / "schedule.yaml"), str(ex / "alerts.jsonl")])
    assert result.returncode == 0, result.stderr
    out = [orjson.loads(x) for x in result.stdout.splitlines()]
    decisions = [(o["decision"], o["status"], o["alerts"][0]["labels"]["alertname"])
                 for o in out if o["schema"] == "alert_decision/v1"]
    assert decisions == [
        ("page", "firing", "SLOBurnRate"), ("suppressed", "firing", "HighCPUUsage"),
        ("page", "resolved", "SLOBurnRate"), ("ticket", "firing", "KubePodCrashLooping"),
        ("page", "firing", "BatchDeadlineMissed"), ("ticket", "firing", "OncallLoadOverTarget")]
    (shift,) = [o for o in out if o["schema"] == "oncall_stats/v1"]
    assert (shift["oncall"], shift["pages"], shift["incidents"], shift["over_target"]) == ("bob", 2, 2, True)
