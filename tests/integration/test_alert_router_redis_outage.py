"""Static stability: while Redis refuses writes, the alert-router keeps paging from memory, and it
saves its state once Redis accepts writes again (DESIGN.md §4)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from test_alert_router import alert, router_settings, wait_assigned

from pipeline.adapters.redis.alert_state import RedisAlertState
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(300)]
PAUSE_S = 20
N = 5


def test_pages_flow_while_redis_is_paused_and_state_is_saved_after(
    kafka: KafkaTestClient, obspipe_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """With Redis writes paused (CLIENT PAUSE WRITE), new alert groups still page; afterwards their
    notification-log entries reach Redis."""
    settings = router_settings(obspipe_settings, redis_url, tmp_path)
    client = redis.Redis.from_url(redis_url)
    with WorkerProcess("alert-router", settings, tmp_path / "router.log", loglevel="info") as worker:
        wait_assigned(worker)
        paused_at = time.monotonic()
        client.execute_command("CLIENT", "PAUSE", PAUSE_S * 1000, "WRITE")
        try:
            start = datetime.now(UTC) - timedelta(minutes=5)
            kafka.produce(settings.topic_alerts_raw,
                          [alert("HighErrorRate", f"outage{i}", start) for i in range(N)])

            def all_paged(records: list[Record]) -> bool:
                docs = [orjson.loads(r.value or b"{}") for r in records]
                return len({d["group_key"] for d in docs if d["decision"] == "page"}) == N

            kafka.consume_until(settings.topic_pages, all_paged, timeout=PAUSE_S - 5)
            assert time.monotonic() - paused_at < PAUSE_S, "pages came only after Redis was back"
        finally:
            client.execute_command("CLIENT", "UNPAUSE")
        store = RedisAlertState(client, settings.alert_state_prefix)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            logged = [k for k in store.load(0).nflog if "outage" in k]
            if len(logged) == N:
                break
            time.sleep(0.5)
        assert len(logged) == N, worker.log_tail()
        assert "routing on in-memory state" in worker.log_tail(1_000_000)
