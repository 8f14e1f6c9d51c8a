"""The faust app factory every obspipe stream app is built with, and the runtime pieces apps share.

`build_runtime(name, settings)` returns the faust app plus an app-owned acking producer (its
deliveries gate the acks of input events) and the dead-letter policy, wired to the app's
start, rebalance and shutdown. The faust settings encode what was measured on the embedded
broker (DESIGN.md §6) and are valid on Apache Kafka too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import faust

from pipeline.adapters.kafka.acking_producer import AckingProducer
from pipeline.adapters.kafka.config import bootstrap_of
from pipeline.adapters.kafka.dlq import DeadLetters
from pipeline.adapters.kafka.faust_transport import App as FaustApp
from pipeline.adapters.net import free_port
from pipeline.adapters.observability import PipelineMetrics
from pipeline.domain.windows import Position
from pipeline.errors import RecordError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# The embedded broker holds each group join for half the session timeout: 6 s / 1 s make a
# worker ready in ~4.5 s instead of ~32 s, and are valid on Kafka.
SESSION_TIMEOUT_S = 6.0
HEARTBEAT_INTERVAL_S = 1.0
# faust commits acked offsets on this timer (its default is 2.8 s); shorter = less replay.
COMMIT_INTERVAL_S = 1.0
# GC thresholds after start-up. Gen 0: long-lived window state no longer churns through gen-0
# collections (the default 700 caused loop pauses of up to ~40 ms here). Gens 1 and 2: a gen-1
# collection re-traverses every span that survived the last ten gen-0 ones (the defaults 10/10
# cost the trace assembler ~1.5 us per span and pauses of 0.3-1 s here); the windows hold no
# reference cycles, so the rarer older collections only delay freeing the few cycles faust and
# asyncio make.
GC_THRESHOLDS = (50_000, 50, 100)


@dataclass(slots=True)
class AppRuntime:
    """A faust app and what obspipe adds to it."""

    name: str
    app: faust.App
    settings: Settings
    bootstrap: str
    producer: AckingProducer
    dead_letters: DeadLetters


def app_id(name: str, settings: Settings) -> str:
    """The faust app id, which is also the consumer group of the app's workers."""
    return f"{settings.worker_group_prefix}-{name}"


def faust_credentials(settings: Settings) -> Any:
    """faust broker credentials for the security settings, or None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_ca_location) if settings.kafka_ssl_ca_location else None
        )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context,
    )


def build_app(name: str, settings: Settings, *, bootstrap: str | None = None, **overrides: Any) -> faust.App:
    """A faust app configured for obspipe: raw bytes, manual acks safe on rebalance, no tables.

    Args:
        name: the app's name ("span-ingest"); its workers form the group `app_id(name, settings)`.
        settings: obspipe settings.
        bootstrap: host:port list; default OBSPIPE_KAFKA_BOOTSTRAP.
        overrides: faust settings that win over obspipe's.
    """
    servers = bootstrap_of(settings, bootstrap)
    datadir = settings.run_dir / "faust" / name
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    conf: dict[str, Any] = {
        "broker": [f"kafka://{server.strip()}" for server in servers.split(",")],
        "broker_credentials": faust_credentials(settings),
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S,
        "broker_commit_interval": COMMIT_INTERVAL_S,
        "consumer_auto_offset_reset": "earliest",
        # Held acks must not stall a rebalance or shutdown (DESIGN.md §4).
        "stream_wait_empty": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        # No faust tables: state that must survive lives in Redis or is replayed (DESIGN.md §5).
        "store": "memory://",
        "table_standby_replicas": 0,
        "topic_disable_leader": True,
        # web_enabled=False still binds web_port: give every worker its own free one.
        "web_enabled": False,
        "web_host": settings.web_host,
        "web_port": free_port(settings.web_host),
        "datadir": str(datadir),
        "worker_redirect_stdouts": False,
    }
    conf.update(overrides)
    return FaustApp(app_id(name, settings), **conf)


def build_runtime(name: str, settings: Settings, *, bootstrap: str | None = None) -> AppRuntime:
    """`build_app` plus an acking producer and the dead-letter policy, wired to the app's lifecycle.

    - start: the producer's poll task starts; the root logger is put back to the worker's
      level; GC is tuned once start-up garbage is frozen.
    - partitions revoked: the producer is flushed so deliveries ack their inputs before the
      rebalance commits.
    - shutdown: the producer is flushed, then the consumer commits once more (faust's own
      shutdown commit may have run while deliveries were pending, or been skipped because
      another commit was in flight).
    """
    servers = bootstrap_of(settings, bootstrap)
    app = build_app(name, settings, bootstrap=servers)

    crashing: set[asyncio.Future[None]] = set()

    def crash(exc: Exception) -> None:
        # An output that librdkafka gave up on can never be delivered by this process:
        # stop the worker so that the partition is replayed from the committed offset.
        if not crashing:
            crashing.add(asyncio.ensure_future(app.crash(exc)))

    producer = AckingProducer.from_settings(settings, servers, on_fatal=crash)
    runtime = AppRuntime(name, app, settings, servers, producer, DeadLetters(producer, settings.topic_dlq))

    async def start_runtime() -> None:
        await producer.start()
        reset_root_logger()
        tune_gc()

    async def flush_on_revoke(_sender: Any, *_args: Any, **_kwargs: Any) -> None:
        producer.flush(SESSION_TIMEOUT_S / 2)

    async def flush_on_shutdown(_sender: Any, *_args: Any, **_kwargs: Any) -> None:
        await producer.stop()
        with contextlib.suppress(Exception):  # the consumer may already be closed
            await app.consumer.commit()

    app.task(start_runtime)
    # faust's stubs type the handler too narrowly for an async function; it accepts one.
    app.on_partitions_revoked.connect(cast(Any, flush_on_revoke))
    app.on_before_shutdown.connect(cast(Any, flush_on_shutdown))

    return runtime


DeadLetterPolicy = Callable[[Position, bytes | None, Any, RecordError, Any], None]


def dead_letter_policy(app_rt: AppRuntime, metrics: PipelineMetrics) -> DeadLetterPolicy:
    """Send a rejected record to the dead-letter topic, ack its event once that is delivered, count it."""

    def dead_letter(pos: Position, value: bytes | None, key: Any, exc: RecordError, event: Any) -> None:
        group = app_rt.producer.group([event])
        topic, partition, offset = pos
        app_rt.dead_letters.send(
            value, key, topic=topic, partition=partition, offset=offset, error=exc, group=group
        )
        group.seal()
        metrics.dlq_record(exc.reason)

    return dead_letter


def tune_gc() -> None:
    """Freeze start-up objects out of GC and raise the thresholds (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def reset_root_logger(level: int | str | None = None) -> None:
    """faust leaves the root logger at DEBUG even with `-l warn`; put it back after start.

    Without `level`, the root logger gets the lowest level of its handlers (the level the
    worker was started with), so DEBUG records are no longer built only to be dropped. faust's
    terminal spinner handler sits at DEBUG but only animates; it does not count.
    """
    root = logging.getLogger()
    if level is None:
        levels = [
            h.level for h in root.handlers if h.level > logging.NOTSET and "Spinner" not in type(h).__name__
        ]
        if not levels:
            return
        level = min(levels)
    root.setLevel(level)
