"""The dashboard's Kafka side: a consumer of the output topics and a consumer-lag poller.

Both run in daemon threads (librdkafka calls block) and hand their results to the event loop
with `call_soon_threadsafe`, one call per batch, so the state is only ever touched on the loop.

The consumer assigns partitions directly instead of joining a group: a dashboard needs every
record of every partition, never a share of them, and a group join on the embedded broker
costs half the session timeout. Its group id (unique per dashboard) only names it to the
broker; it commits nothing. "From latest" starts each partition at its high watermark read at
assignment, so a record produced after the dashboard reported itself ready is always shown
(the embedded broker's watermark is one batch short: a few older records may show too).
Partitions that appear later (topics created after start) are read from their beginning:
all of their records are newer than the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.adapters.kafka.config import admin_config, consumer_config
from pipeline.dashboard.state import Kind
from pipeline.dashboard.workers import announced_urls, scrape_workers
from pipeline.settings import Settings

log = logging.getLogger(__name__)

Batch = list[tuple[Kind, bytes | None, int | None]]
GROUP_PREFIX = "obspipe-dashboard-"
# How often new topics/partitions are looked for, and how often health (lag, workers) is polled.
METADATA_INTERVAL_S = 5.0
LAG_INTERVAL_S = 5.0


def topic_kinds(settings: Settings) -> dict[str, Kind]:
    """The output topics the dashboard reads, by name, with the view each one feeds."""
    return {
        settings.topic_traces: "traces",
        settings.topic_pages: "pages",
        settings.topic_slo_status: "slo",
        settings.topic_oncall_stats: "shifts",
        settings.topic_dlq: "dlq",
    }


class _KafkaThread:
    """A daemon thread running `_run` with the settings and bootstrap of one Kafka client."""

    thread_name = "dashboard-kafka"

    def __init__(self, settings: Settings, bootstrap: str, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (it closes its clients); idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError


class TopicFeed(_KafkaThread):
    """Reads the output topics in a thread and delivers record batches on the event loop."""

    thread_name = "dashboard-feed"

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        deliver: Callable[[Batch], None],
        loop: asyncio.AbstractEventLoop,
        *,
        from_beginning: bool = False,
    ) -> None:
        super().__init__(settings, bootstrap, loop)
        self.deliver = deliver
        self.from_beginning = from_beginning
        self.kinds = topic_kinds(settings)
        self.group_id = f"{GROUP_PREFIX}{uuid.uuid4().hex[:12]}"
        self.assigned: set[tuple[str, int]] = set()
        self.ready = threading.Event()  # set once the first partition assignment is done
        self.error: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "assigned_partitions": len(self.assigned),
            "ready": self.ready.is_set(),
            "error": self.error,
        }

    def _run(self) -> None:
        conf = consumer_config(self.settings, self.group_id, self.bootstrap, enable_auto_commit=False)
        consumer = Consumer(conf)
        next_metadata = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_metadata:
                    self._assign_new(consumer, first=not self.ready.is_set())
                    next_metadata = time.monotonic() + METADATA_INTERVAL_S
                messages = consumer.consume(num_messages=500, timeout=0.2)
                batch: Batch = []
                for msg in messages:
                    if msg.error() is not None:
                        self.error = str(msg.error())
                        continue
                    kind = self.kinds.get(msg.topic() or "")
                    if kind is not None:
                        ts_type, ts = msg.timestamp()
                        batch.append((kind, msg.value(), ts if ts_type else None))
                if batch:
                    self.loop.call_soon_threadsafe(self.deliver, batch)
        except Exception as exc:  # the dashboard stays up and says why its feed stopped
            self.error = f"feed stopped: {exc}"
            log.exception("dashboard feed stopped")
        finally:
            consumer.close()

    def _assign_new(self, consumer: Consumer, *, first: bool) -> None:
        """Assign partitions not assigned yet; only the first pass may start them at the end."""
        try:
            metadata = consumer.list_topics(timeout=5)
        except KafkaException as exc:
            self.error = f"metadata: {exc}"
            return
        new: list[KafkaTopicPartition] = []
        for name in self.kinds:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                continue
            for partition in topic.partitions:
                if (name, partition) in self.assigned:
                    continue
                offset = OFFSET_BEGINNING
                if first and not self.from_beginning:
                    tp = KafkaTopicPartition(name, partition)
                    offset = consumer.get_watermark_offsets(tp, timeout=5)[1]
                new.append(KafkaTopicPartition(name, partition, offset))
        if new:
            consumer.incremental_assign(new)
            self.assigned.update((tp.topic, tp.partition) for tp in new)
        self.error = None
        self.ready.set()


class HealthPoller(_KafkaThread):
    """Polls pipeline health every LAG_INTERVAL_S: consumer lag and the workers' own metrics.

    Lag is committed offsets of the pipeline's consumer groups against the high watermarks,
    for display only: approximate (on the embedded broker, very much so). Worker figures (open
    traces, throughput, DLQ) are scraped from `metrics_urls` plus those announced in run_dir.
    """

    thread_name = "dashboard-health"

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        deliver: Callable[[list[dict[str, Any]], list[dict[str, Any]]], None],
        loop: asyncio.AbstractEventLoop,
        metrics_urls: Sequence[str] = (),
    ) -> None:
        super().__init__(settings, bootstrap, loop)
        self.deliver = deliver
        self.metrics_urls = list(metrics_urls)

    def _run(self) -> None:
        admin = AdminClient(admin_config(self.settings, self.bootstrap))
        watermarks = Consumer(
            consumer_config(self.settings, f"{GROUP_PREFIX}lag-{uuid.uuid4().hex[:8]}", self.bootstrap)
        )
        try:
            while not self._stop.is_set():
                try:
                    lag = poll_lag(admin, watermarks)
                except KafkaException as exc:
                    lag = [{"error": str(exc)}]
                workers = scrape_workers([*self.metrics_urls, *announced_urls(self.settings.run_dir)])
                self.loop.call_soon_threadsafe(self.deliver, lag, workers)
                self._stop.wait(LAG_INTERVAL_S)
        finally:
            watermarks.close()


def poll_lag(admin: AdminClient, watermarks: Consumer, timeout: float = 5.0) -> list[dict[str, Any]]:
    """One row per (group, topic, partition) with a committed offset: committed, high, lag."""
    listing = admin.list_consumer_groups(request_timeout=timeout).result()
    groups = sorted(g.group_id for g in listing.valid if not g.group_id.startswith(GROUP_PREFIX))
    rows: list[dict[str, Any]] = []
    for group in groups:
        futures: Mapping[str, Any] = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )
        for tp in futures[group].result().topic_partitions:
            if tp.offset < 0:
                continue  # nothing committed yet
            high = watermarks.get_watermark_offsets(
                KafkaTopicPartition(tp.topic, tp.partition), timeout=timeout
            )[1]
            rows.append(
                {
                    "group": group,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": tp.offset,
                    "high": high,
                    "lag": max(0, high - tp.offset),
                }
            )
    return rows
