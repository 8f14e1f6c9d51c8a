"""The alert-router worker end to end on the real broker and Redis: SLO burn page with the on-call
person, a flapping CPU alert suppressed, a silence stopping a page, bad records dead-lettered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from pipeline.adapters.kafka.topics import create_topics
from pipeline.adapters.redis.alert_state import RedisAlertState
from pipeline.domain.alerting.silences import new_silence
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess, settings_env

pytestmark = [pytest.mark.timeout(300)]
# No key: records spread over both partitions of alerts.raw; the intake forwards them to the
# single-partition routing topic, so grouping and flap detection still see every alert.
ROUTING_KEY: bytes | None = None
ASSIGNED = re.compile(r"assigned partitions \[\d")


def rfc(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def router_settings(obspipe_settings: Any, redis_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with fast timers, a schedule putting alice on call now, and unique Redis keys."""
    config = {"route": {"group_by": ["alertname", "service"], "group_wait": "1s", "group_interval": "2s",
                        "repeat_interval": "1h"},
              "suppression": {"flap_window": "1h", "flap_threshold": 3}}
    now = datetime.now(UTC)
    schedule = {"timezones": {"alice": "Europe/Berlin"},
                "shifts": [{"id": "today", "oncall": "alice", "start": rfc(now - timedelta(hours=1)),
                            "end": rfc(now + timedelta(hours=11))}]}
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "schedule.yaml").write_text(yaml.safe_dump(schedule))
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "redis_url": redis_url, "topic_partitions": 2, "alert_tick_s": 0.2, "transient_window_s": 5.0,
        "alert_config_file": tmp_path / "alerts.yaml", "schedule_file": tmp_path / "schedule.yaml",
        "alert_state_prefix": f"t-{tag}", "worker_group_prefix": f"ar-{tag}",
    }
    values.update(overrides)
    settings: Settings = obspipe_settings(**values)
    create_topics(settings)
    return settings


def wait_assigned(worker: WorkerProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ASSIGNED.search(worker.log_tail(1_000_000)):
            return
        assert worker.alive(), worker.log_tail()
        time.sleep(0.2)
    raise AssertionError(f"worker never got partitions:\n{worker.log_tail()}")


def alert(name: str, service: str, start: datetime, end: datetime | None = None, **labels: str) -> bytes:
    body: dict[str, Any] = {"labels": {"alertname": name, "service": service, **labels},
                            "annotations": {"runbook_url": "https://runbooks/x"}, "startsAt": rfc(start)}
    if end is not None:
        body.update(status="resolved", endsAt=rfc(end))
    return orjson.dumps(body)


def decisions(records: list[Record]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value or b"{}") for r in records]


def named(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["alerts"][0]["labels"]["alertname"] == name]


def test_slo_page_flapping_cpu_and_silence(
    kafka: KafkaTestClient, obspipe_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """An SLO burn alert pages alice; a CPU alert flapping three times is suppressed; a silenced error
    alert is suppressed; a bad record goes to the DLQ; shift figures reach oncall.stats."""
    settings = router_settings(obspipe_settings, redis_url, tmp_path)
    RedisAlertState.from_url(redis_url, settings.alert_state_prefix).put_silence(
        new_silence('alertname="HighErrorRate",service="payments"', time.time() - 60, time.time() + 3600,
                    "test", "maintenance"))
    with WorkerProcess("alert-router", settings, tmp_path / "router.log", loglevel="info") as worker:
        wait_assigned(worker)
        now = datetime.now(UTC)
        kafka.produce(settings.topic_alerts_raw, [
            alert("SLOBurnRate", "checkout", now - timedelta(minutes=5), slo="checkout-availability"),
            alert("HighErrorRate", "payments", now - timedelta(minutes=5)),
            b"{not json",
        ], key=ROUTING_KEY)
        for _ in range(3):  # three short CPU episodes: transient, transient, then flapping
            start = datetime.now(UTC)
            kafka.produce(settings.topic_alerts_raw, [alert("HighCPUUsage", "checkout", start)],
                          key=ROUTING_KEY)
            time.sleep(0.3)
            kafka.produce(settings.topic_alerts_raw, [alert("HighCPUUsage", "checkout", start,
                                                            start + timedelta(seconds=0.3))],
                          key=ROUTING_KEY)
        start = datetime.now(UTC)
        kafka.produce(settings.topic_alerts_raw, [alert("HighCPUUsage", "checkout", start)], key=ROUTING_KEY)

        def done(records: list[Record]) -> bool:
            docs = decisions(records)
            return (any(d["reason"] == "flapping" for d in named(docs, "HighCPUUsage"))
                    and bool(named(docs, "SLOBurnRate")) and bool(named(docs, "HighErrorRate")))

        docs = decisions(kafka.consume_until(settings.topic_pages, done, timeout=120, settle=8.0))
        dlq = kafka.consume_until(settings.topic_dlq, lambda rs: len(rs) >= 1, timeout=60)
        stats = kafka.consume_until(settings.topic_oncall_stats, lambda rs: len(rs) >= 1, timeout=60)
    (slo,) = named(docs, "SLOBurnRate")
    assert (slo["decision"], slo["oncall"], slo["shift_id"]) == ("page", "alice", "today")
    assert slo["rule"] == "slo-burn"
    (silenced,) = named(docs, "HighErrorRate")
    assert (silenced["decision"], silenced["reason"]) == ("suppressed", "silenced")
    cpu = named(docs, "HighCPUUsage")
    assert all(d["decision"] == "suppressed" for d in cpu), cpu
    # Each episode from the third on is reported as flapping once; none is a ticket or page.
    assert "flapping" in {d["reason"] for d in cpu}
    assert orjson.loads(dlq[0].value or b"{}")["reason"] == "decode_error"
    last = orjson.loads(stats[-1].value or b"{}")
    assert last["shift_id"] == "today" and last["oncall"] == "alice" and last["pages"] >= 1
    # `obspipe oncall stats` without arguments reads the current shift's figures from Redis.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSPIPE_")}
    env.update(settings_env(settings))
    cli = subprocess.run([str(Path(sys.executable).with_name("obspipe")), "oncall", "stats"], env=env,
                         capture_output=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    current = orjson.loads(cli.stdout)
    assert (current["shift_id"], current["pages"]) == ("today", last["pages"])
    assert current["suppressed"].get("silenced") == 1
