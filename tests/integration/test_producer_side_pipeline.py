"""The demo services publish through KafkaSpanExporter into the running pipeline (span-ingest and
trace-assembler workers): the assembled traces carry the links, and a pitfall its diagnostic."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from pipeline.adapters.kafka.topics import create_topics
from pipeline.adapters.otel.exporter import build_kafka_span_exporter
from pipeline.demo_services import Pitfalls, run_story
from pipeline.demo_services.transport import build_kafka_order_transport
from pipeline.settings import Settings
from pipeline.testing.kafka import KafkaTestClient, Record
from pipeline.testing.workers import WorkerProcess

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

DEADLINE_S = 200.0  # two faust workers join and the traces go idle, on two shared cores
PROPAGATION_CODES = {
    "LOST_CONTEXT_SUSPECTED",
    "CONTEXT_LEAK_SUSPECTED",
    "QUEUE_PARENT_CHILD",
    "SAMPLING_INCONSISTENT",
}


@pytest.fixture
def pipeline_settings(obspipe_settings: Callable[..., Settings], redis_url: str) -> Settings:
    settings = obspipe_settings(
        redis_url=redis_url,
        topic_partitions=2,
        idle_timeout_s=1.5,
        max_trace_age_s=20.0,
        trace_index_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    create_topics(settings)
    return settings


def _latest(records: list[Record]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        doc = orjson.loads(rec.value or b"{}")
        if doc["revision"] >= out.get(doc["trace_id"], {"revision": 0})["revision"]:
            out[doc["trace_id"]] = doc
    return out


def _publish_story(settings: Settings, new_topic: Callable[..., str], pitfalls: Pitfalls) -> None:
    exporter = build_kafka_span_exporter(settings)
    transport = build_kafka_order_transport(
        settings, new_topic("orders"), f"fulfillment-{uuid.uuid4().hex[:8]}"
    )
    try:
        run_story(exporter, transport=transport, pitfalls=pitfalls, orders=2, receive_timeout_s=90)
    finally:
        transport.close()
        exporter.shutdown()
    assert exporter.stats.delivered == exporter.stats.queued > 0


def test_story_through_the_pipeline_links_both_ways(
    kafka: KafkaTestClient, pipeline_settings: Settings, start_worker: Callable[..., WorkerProcess], new_topic
) -> None:
    """Two checkouts: the fulfillment trace links to both, and each checkout trace is linked from it."""
    s = pipeline_settings
    start_worker("span-ingest", s)
    assembler = start_worker("trace-assembler", s)
    _publish_story(s, new_topic, Pitfalls())

    def done(records: list[Record]) -> bool:
        latest = _latest(records)
        checkouts = [t for t in latest.values() if t["summary"]["root_service"] == "checkout"]
        return len(latest) >= 3 and len(checkouts) == 2 and all(t["linked_from"] for t in checkouts)

    latest = _latest(kafka.consume_until(s.topic_traces, done, timeout=DEADLINE_S, settle=2.0))
    assert len(latest) == 3, assembler.log_tail()
    (fulfillment,) = [t for t in latest.values() if t["summary"]["root_service"] == "fulfillment"]
    checkouts = [t for t in latest.values() if t["summary"]["root_service"] == "checkout"]
    assert {lk["trace_id"] for lk in fulfillment["links"]} == {t["trace_id"] for t in checkouts}
    for t in checkouts:
        assert [lf["trace_id"] for lf in t["linked_from"]] == [fulfillment["trace_id"]]
        assert t["summary"]["span_count"] == 10
    codes = {d["code"] for t in latest.values() for d in t["diagnostics"]}
    assert not codes & PROPAGATION_CODES


def test_queue_parent_child_pitfall_is_reported_by_the_pipeline(
    kafka: KafkaTestClient, pipeline_settings: Settings, start_worker: Callable[..., WorkerProcess], new_topic
) -> None:
    """With fulfillment parenting to the producer, the assembled checkout trace reports QUEUE_PARENT_CHILD."""
    s = pipeline_settings
    start_worker("span-ingest", s)
    assembler = start_worker("trace-assembler", s)
    _publish_story(s, new_topic, Pitfalls(queue_parent_child=True))

    def done(records: list[Record]) -> bool:
        return any(
            d["code"] == "QUEUE_PARENT_CHILD" for t in _latest(records).values() for d in t["diagnostics"]
        )

    latest = _latest(kafka.consume_until(s.topic_traces, done, timeout=DEADLINE_S))
    flagged = [t for t in latest.values() if any(d["code"] == "QUEUE_PARENT_CHILD" for d in t["diagnostics"])]
    assert flagged and all(t["summary"]["root_service"] == "checkout" for t in flagged), assembler.log_tail()
