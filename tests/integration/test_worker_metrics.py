"""A real `obspipe worker trace-assembler`: its Prometheus endpoint, and the dashboard showing its work."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.dashboard import start_dashboard
from pipeline.dashboard.workers import announced_urls, scrape_workers
from pipeline.domain.codec import encode_bundle
from pipeline.domain.partitioning import partition_for_trace
from pipeline.domain.span import Span
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient
from pipeline.testing.waiting import wait_until
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

DEADLINE_S = 150.0  # a faust worker needs ~5-20 s to join on two shared cores
PARTITIONS = 2


def _trace(n: int) -> list[Span]:
    trace_id = uuid.uuid4().hex
    start = time.time_ns()
    root = Span(trace_id, uuid.uuid4().hex[:16], "GET /", start, start + 10_000_000, "web", kind="SERVER")
    kids = [
        Span(trace_id, uuid.uuid4().hex[:16], f"step{i}", start + i, start + 1_000 + i, "web",
             parent_span_id=root.span_id)
        for i in range(1, n)
    ]
    return [root, *kids]


def test_worker_counts_spans_commits_and_lag_on_its_endpoint(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """After one 5-span trace, the endpoint shows 1 record and 5 spans in and out, a commit and lag."""
    settings = obspipe_settings(
        topic_partitions=PARTITIONS,
        idle_timeout_s=1.0,
        run_dir=tmp_path / "run",
        worker_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        trace_index_enabled=False,
    )
    create_topics(settings)
    worker = WorkerProcess("trace-assembler", settings, tmp_path / "worker.log").start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        urls: list[str] = []
        while not urls and time.monotonic() < deadline:
            urls = announced_urls(settings.run_dir)
            time.sleep(0.2)
        assert urls, f"no metrics endpoint announced; log:\n{worker.log_tail()}"

        spans = _trace(5)
        partition = partition_for_trace(spans[0].trace_id, PARTITIONS)
        kafka.produce(settings.topic_spans_by_trace, [encode_bundle(spans)], partition=partition)

        row: dict[str, object] = {}
        while time.monotonic() < deadline:
            rows = [r for r in scrape_workers(urls, timeout=5) if r.get("app") == "trace-assembler"]
            row = rows[0] if rows else {}
            if row.get("spans_out") == 5 and "lag" in row and _commits(urls[0]) >= 1:
                break
            time.sleep(0.5)
        assert row.get("spans_in") == 5 and row.get("spans_out") == 5, f"{row}\n{worker.log_tail()}"
        # one bundle in, one assembled trace out: each record counted once
        assert row.get("records_in") == 1 and row.get("records_out") == 1, row
        assert row.get("open_traces") == 0
        assert "lag" in row  # the lag timer refreshed the per-partition gauges
        assert _commits(urls[0]) >= 1
    finally:
        worker.stop()


def _commits(url: str) -> float:
    """Observations of the commit latency histogram on `url`."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("obspipe_commit_latency_seconds_count{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_dashboard_shows_a_real_workers_trace_figures_and_group_lag(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """The dashboard serves a trace the worker assembled, the worker's figures and its group's offsets."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = obspipe_settings(
        topic_partitions=PARTITIONS,
        idle_timeout_s=1.0,
        run_dir=tmp_path / "run",
        worker_group_prefix=prefix,
        trace_index_enabled=False,
    )
    create_topics(settings)
    spans = _trace(3)
    trace_id = spans[0].trace_id

    async def scenario() -> None:
        running = await start_dashboard(settings, settings.kafka_bootstrap, port=0)
        worker = WorkerProcess("trace-assembler", settings, tmp_path / "worker.log").start()
        try:
            assert await running.wait_ready(DEADLINE_S)
            partition = partition_for_trace(trace_id, PARTITIONS)
            await asyncio.to_thread(
                kafka.produce, settings.topic_spans_by_trace, [encode_bundle(spans)], partition=partition
            )
            async with aiohttp.ClientSession() as http:

                async def trace() -> dict[str, Any] | None:
                    async with http.get(f"{running.url}api/traces/{trace_id}") as resp:
                        return await resp.json() if resp.status == 200 else None

                async def health() -> dict[str, Any] | None:
                    async with http.get(running.url + "api/state") as resp:
                        h = (await resp.json())["health"]
                    workers = [w for w in h.get("workers") or [] if w.get("spans_out") == 3]
                    groups = [r for r in h.get("lag") or [] if str(r.get("group", "")).startswith(prefix)]
                    return {"workers": workers, "groups": groups} if workers and groups else None

                log = worker.log_tail
                assembled = await wait_until(trace, "the assembled trace", DEADLINE_S, context=log)
                figures = await wait_until(health, "worker figures and offsets", DEADLINE_S, context=log)
        finally:
            await asyncio.to_thread(worker.stop)
            await running.stop()
        assert assembled["summary"]["span_count"] == 3 and assembled["summary"]["root_name"] == "GET /"
        assert figures["workers"][0]["app"] == "trace-assembler"
        inputs = {settings.topic_spans_by_trace, settings.topic_links}
        assert {r["topic"] for r in figures["groups"]} <= inputs

    asyncio.run(scenario())

