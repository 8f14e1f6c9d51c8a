"""The dashboard server on the real broker and Redis: feed, SSE, JSON API, lag and the trace index."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.adapters.redis.trace_index import RedisTraceIndex
from pipeline.dashboard import start_dashboard
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings
from pipeline.testing.dashboard_records import linked_traces, page_record
from pipeline.testing.kafka import KafkaTestClient, unique_name
from pipeline.testing.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEADLINE_S = 60.0  # generous: two shared cores


def _output_topics(kafka: KafkaTestClient, settings: Settings) -> None:
    for name in (settings.topic_traces, settings.topic_pages, settings.topic_slo_status,
                 settings.topic_oncall_stats, settings.topic_dlq):
        kafka.create_topic(name)


def test_from_latest_shows_only_records_after_start_and_streams_them(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings]
) -> None:
    """Started from latest, the dashboard skips older pages and streams a new one over SSE."""
    settings = obspipe_settings()
    _output_topics(kafka, settings)
    old = [page_record("ticket", "old", f"Old{i}", "db", at="2026-11-26T09:00:00Z") for i in range(3)]
    kafka.produce(settings.topic_pages, [orjson.dumps(p) for p in old])

    async def scenario() -> None:
        running = await start_dashboard(settings, settings.kafka_bootstrap, port=0)
        try:
            assert await running.wait_ready(DEADLINE_S)
            async with aiohttp.ClientSession() as http:
                async with http.get(running.url + "events") as stream:
                    assert stream.headers["Content-Type"].startswith("text/event-stream")
                    first = await stream.content.readuntil(b"\n\n")
                    assert first.startswith(b"event: snapshot\n")
                    new = page_record("page", "symptom: error ratio", "Fresh", "payments", at="now")
                    await asyncio.to_thread(kafka.produce, settings.topic_pages, [orjson.dumps(new)])
                    pages: list[dict[str, Any]] = []
                    while not pages or pages[-1]["alertname"] != "Fresh":  # other events may come first
                        chunk = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), DEADLINE_S)
                        if chunk.startswith(b"event: page\n"):
                            pages.append(orjson.loads(chunk.split(b"data: ", 1)[1]))
                    assert pages[-1]["decision"] == "page"
                async with http.get(running.url + "api/state") as resp:
                    state = await resp.json()
            # The embedded broker's watermark is one batch short: at most that batch of old pages
            # may show, but never the fresh page missing, and never more than was produced.
            names = [p["alertname"] for p in state["pages"]]
            assert names[0] == "Fresh" and len(names) <= 4
            assert state["feed"]["ready"] and state["feed"]["assigned_partitions"] == 5
        finally:
            await running.stop()

    asyncio.run(scenario())


def test_trace_api_serves_held_traces_and_404s_unknown_ones(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings]
) -> None:
    """/api/traces/{id} returns a trace read from the topic, and 404 for one never seen."""
    settings = obspipe_settings()
    _output_topics(kafka, settings)
    traces = linked_traces(time.time_ns())
    kafka.produce(settings.topic_traces, [orjson.dumps(traces.checkout), orjson.dumps(traces.batch)])

    async def scenario() -> None:
        running = await start_dashboard(settings, settings.kafka_bootstrap, port=0, from_beginning=True)
        try:
            async with aiohttp.ClientSession() as http:
                async def fetch() -> dict[str, Any] | None:
                    url = f"{running.url}api/traces/{traces.checkout['trace_id'].upper()}"
                    async with http.get(url) as resp:
                        return await resp.json() if resp.status == 200 else None

                trace = await wait_until(fetch, "the checkout trace", DEADLINE_S)
                assert trace["revision"] == 1 and len(trace["spans"]) == 9
                assert trace["linked_from"][0]["trace_id"] == traces.batch["trace_id"]
                async with http.get(f"{running.url}api/traces/{'0' * 31}1") as resp:
                    assert resp.status == 404
        finally:
            await running.stop()

    asyncio.run(scenario())


def test_trace_missing_from_memory_is_read_from_the_redis_index_with_incoming_links(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings], redis_url: str
) -> None:
    """A trace not held in memory comes from the Redis index, with its incoming links merged in."""
    prefix = unique_name("idx")
    settings = obspipe_settings(redis_url=redis_url, trace_index_prefix=prefix)
    _output_topics(kafka, settings)
    traces = linked_traces(time.time_ns())
    checkout = {**traces.checkout, "linked_from": []}  # written before the batch trace arrived
    index = RedisTraceIndex.from_url(redis_url, prefix=prefix).start()
    index.put(checkout)
    index.put(traces.batch)
    assert index.flush(30)
    index.shutdown()

    async def scenario() -> None:
        running = await start_dashboard(settings, settings.kafka_bootstrap, redis_url, port=0)
        try:
            url = f"{running.url}api/traces/{checkout['trace_id']}"
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                assert resp.status == 200
                trace = await resp.json()
        finally:
            await running.stop()
        assert trace["trace_id"] == checkout["trace_id"]
        incoming = {"trace_id": traces.batch["trace_id"], "span_id": traces.consumer_span_id,
                    "linked_span_id": traces.producer_span_id}
        assert trace["linked_from"] == [incoming]

    asyncio.run(scenario())


def test_health_shows_committed_offsets_of_pipeline_groups(
    kafka: KafkaTestClient, obspipe_settings: Callable[..., Settings]
) -> None:
    """A consumer group's committed offset on a topic shows up in the health view's lag rows."""
    settings = obspipe_settings()
    _output_topics(kafka, settings)
    topic = kafka.create_topic(unique_name("lagged"))
    kafka.produce(topic, [b"x"] * 5)
    group = unique_name("app-group")
    committer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                          "enable.auto.commit": False})
    committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    committer.close()

    async def scenario() -> None:
        running = await start_dashboard(settings, settings.kafka_bootstrap, port=0)
        try:
            async with aiohttp.ClientSession() as http:
                async def rows() -> list[dict[str, Any]]:
                    async with http.get(running.url + "api/state") as resp:
                        lag = (await resp.json())["health"].get("lag") or []
                    return [r for r in lag if r.get("group") == group]

                (row,) = await wait_until(rows, f"lag of {group}", DEADLINE_S)
        finally:
            await running.stop()
        assert (row["topic"], row["partition"], row["committed"]) == (topic, 0, 2)
        assert row["lag"] >= 0

    asyncio.run(scenario())


def test_token_is_required_when_set(obspipe_settings: Callable[..., Settings]) -> None:
    """With a token setting, requests without it get 401; a bearer header or ?token= pass."""
    settings = obspipe_settings(dashboard_token="t0ken")

    async def scenario() -> None:
        running = await start_dashboard(settings, None, port=0)
        try:
            async with aiohttp.ClientSession() as http:
                async def status(path: str, **kw: Any) -> int:
                    async with http.get(running.url + path, **kw) as resp:
                        return resp.status

                assert await status("api/state") == 401
                assert await status("api/state", headers={"Authorization": "Bearer nope"}) == 401
                assert await status("api/state", headers={"Authorization": "Bearer t0ken"}) == 200
                assert await status("api/state?token=t0ken") == 200
                assert await status("?token=t0ken") == 200
                assert await status("static/dashboard.css") == 200
                assert await status("static/..%2Fdashboard%2Fserver.py") == 404
        finally:
            await running.stop()

    asyncio.run(scenario())


def test_taken_port_is_a_one_line_infrastructure_error(obspipe_settings: Callable[..., Settings]) -> None:
    """A port already in use fails with InfrastructureError naming the port and the setting."""
    settings = obspipe_settings()
    with socket.socket() as taken:
        taken.bind((settings.web_host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InfrastructureError, match=f"{port}.*OBSPIPE_DASHBOARD_PORT"):
            asyncio.run(start_dashboard(settings, None, port=port))
