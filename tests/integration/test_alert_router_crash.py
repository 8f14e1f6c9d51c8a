"""kill -9 of the alert-router mid-stream neither loses a page nor sends a group a second one.

A page delivered just before the kill may be re-sent with the same id; consumers drop it by id
(the at-least-once contract), so the tests count pages per id, and require the copies to match.

How (pipeline/adapters/alert_runtime.py): state and the outbox are saved to Redis before the
pages are produced; inputs are acked after delivery; a restarted worker re-sends only what
the outbox still holds, and the notification log stops the replayed inputs from paging again.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_alert_router import ROUTING_KEY, alert, router_settings, wait_assigned

from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]
N_ALERTS = 60
ASSIGNMENT = re.compile(r"alert-router: assigned partitions \[(\d*)\]")


def feed(kafka: KafkaTestClient, topic: str, stop: threading.Event) -> None:
    """One new page-worthy alert group every 100 ms (each alert is 5 min old: it pages at once)."""
    for i in range(N_ALERTS):
        if stop.is_set():
            return
        start = datetime.now(UTC) - timedelta(minutes=5)
        kafka.produce(topic, [alert("HighErrorRate", f"svc{i:03d}", start)], key=ROUTING_KEY)
        time.sleep(0.1)


def pages(records: list[Record]) -> list[dict[str, Any]]:
    docs = [orjson.loads(r.value or b"{}") for r in records]
    return [d for d in docs if d["decision"] == "page" and d["status"] == "firing"]


def distinct_pages(records: list[Record]) -> list[dict[str, Any]]:
    """The pages as a consumer keeps them, one per `id`. A kill -9 after a page's delivery but
    before its outbox entry is cleared re-sends that same page, same id (at-least-once, as
    alert_runtime documents); a re-sent copy must be identical, or it is a second notification."""
    by_id: dict[str, dict[str, Any]] = {}
    for page in pages(records):
        first = by_id.setdefault(page["id"], page)
        assert first == page, f"two different pages share id {page['id']}: {first} / {page}"
    return list(by_id.values())


def test_kill_9_neither_loses_nor_duplicates_pages(
    kafka: KafkaTestClient, obspipe_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """Every alert group pages exactly once (per page id) across a SIGKILL and restart of the only worker."""
    settings = router_settings(obspipe_settings, redis_url, tmp_path)
    victim = WorkerProcess("alert-router", settings, tmp_path / "victim.log", loglevel="info").start()
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(kafka, settings.topic_alerts_raw, stop))
    successor = WorkerProcess("alert-router", settings, tmp_path / "successor.log", loglevel="info")
    try:
        wait_assigned(victim)
        feeder.start()
        kafka.consume_until(settings.topic_pages, lambda rs: len(pages(rs)) >= N_ALERTS // 4, timeout=120)
        assert feeder.is_alive(), "the feed ended before the kill; the test would prove nothing"
        victim.kill()
        successor.start()
        wait_assigned(successor)
        feeder.join(120)
        records = kafka.consume_until(settings.topic_pages, lambda rs: len(pages(rs)) >= N_ALERTS,
                                      timeout=180, settle=8.0)
    finally:
        stop.set()
        victim.stop()
        successor.stop()
    per_group = Counter(d["group_key"] for d in distinct_pages(records))
    assert len(per_group) == N_ALERTS, f"lost pages: {N_ALERTS - len(per_group)}"
    assert max(per_group.values()) == 1, [k for k, n in per_group.items() if n > 1]


def owner_of_routing(workers: list[WorkerProcess], timeout: float = 120) -> WorkerProcess:
    """The worker whose latest assignment holds the routing partition, once every worker has one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = [ASSIGNMENT.findall(w.log_tail(1_000_000)) for w in workers]
        for w in workers:
            assert w.alive(), w.log_tail()
        if all(latest):
            owners = [w for w, found in zip(workers, latest, strict=True) if found[-1] == "0"]
            if len(owners) == 1:
                return owners[0]
        time.sleep(0.2)
    raise AssertionError("no single worker holds the routing partition")


def test_kill_9_of_the_routing_worker_hands_over_to_the_other(
    kafka: KafkaTestClient, obspipe_settings: Any, redis_url: str, tmp_path: Path
) -> None:
    """Two workers: SIGKILL of the one routing alerts mid-stream; the other takes the routing partition
    over (state from Redis) and every group still pages exactly once."""
    settings = router_settings(obspipe_settings, redis_url, tmp_path)
    workers = [WorkerProcess("alert-router", settings, tmp_path / f"w{i}.log", loglevel="info").start()
               for i in range(2)]
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(kafka, settings.topic_alerts_raw, stop))
    try:
        owner = owner_of_routing(workers)
        other = workers[1 - workers.index(owner)]
        feeder.start()
        kafka.consume_until(settings.topic_pages, lambda rs: len(pages(rs)) >= N_ALERTS // 4, timeout=120)
        assert feeder.is_alive(), "the feed ended before the kill; the test would prove nothing"
        owner.kill()
        feeder.join(120)

        def all_paged(rs: list[Record]) -> bool:
            assert other.alive(), f"the surviving worker died:\n{other.log_tail()}"
            return len(pages(rs)) >= N_ALERTS

        try:
            records = kafka.consume_until(settings.topic_pages, all_paged, timeout=240, settle=8.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; surviving worker's log:\n{other.log_tail(20_000)}") from None
    finally:
        stop.set()
        for w in workers:
            w.stop()
    assert ASSIGNMENT.findall(other.log_tail(10_000_000))[-1] == "0", other.log_tail()  # took over
    per_group = Counter(d["group_key"] for d in distinct_pages(records))
    assert len(per_group) == N_ALERTS, f"lost pages: {N_ALERTS - len(per_group)}"
    assert max(per_group.values()) == 1, [k for k, n in per_group.items() if n > 1]
