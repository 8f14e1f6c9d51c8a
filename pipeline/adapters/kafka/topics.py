"""Topic admin: create obspipe's topics (DESIGN.md §3) idempotently and list them with configs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from pipeline.adapters.kafka.config import admin_config
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Inputs and internal topics are replayed from committed offsets after a crash; a day covers
# any realistic outage of a worker. Outputs are read by people and dashboards: a week.
# Dead letters wait for someone to look at them: two weeks.
RETENTION_INPUT_MS = DAY_MS
RETENTION_OUTPUT_MS = 7 * DAY_MS
RETENTION_DLQ_MS = 14 * DAY_MS

Role = Literal["input", "internal", "output", "dlq"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic obspipe uses: its name, partitions, replication and configs."""

    name: str
    role: Role
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic as the broker describes it."""

    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic of DESIGN.md §3, named and sized from settings.

    All share `topic_partitions`: the links topic must be co-partitioned with the span
    bundles (same count) for the assembler to see a trace's links on the trace's partition.
    """
    retention = {
        "input": RETENTION_INPUT_MS,
        "internal": RETENTION_INPUT_MS,
        "output": RETENTION_OUTPUT_MS,
        "dlq": RETENTION_DLQ_MS,
    }
    roles: list[tuple[str, Role]] = [
        (settings.topic_spans_in, "input"),
        (settings.topic_spans_by_trace, "internal"),
        (settings.topic_links, "internal"),
        (settings.topic_traces, "output"),
        (settings.topic_metrics_in, "input"),
        (settings.topic_red, "output"),
        (settings.topic_slo_status, "output"),
        (settings.topic_alerts_raw, "input"),
        (settings.topic_pages, "output"),
        (settings.topic_oncall_stats, "output"),
        (settings.topic_dlq, "dlq"),
    ]
    return [
        TopicSpec(
            name=name,
            role=role,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            config={"retention.ms": str(retention[role])},
        )
        for name, role in roles
    ]


def create_topics(
    settings: Settings, bootstrap: str | None = None, *, timeout: float = 30.0
) -> dict[str, Literal["created", "exists"]]:
    """Create every topic of `topic_specs(settings)`; topics that already exist are left as they are.

    The AdminClient stays referenced until every future has resolved: librdkafka cancels the
    requests of a client that is destroyed early.

    Returns:
        topic name -> "created" | "exists".

    Raises:
        InfrastructureError: the broker refused a topic or did not answer within `timeout`.
    """
    admin = AdminClient(admin_config(settings, bootstrap))
    specs = topic_specs(settings)
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication, config=s.config) for s in specs],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    outcome: dict[str, Literal["created", "exists"]] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise InfrastructureError(f"cannot create topic {name}: {exc.args[0].str()}") from None
            outcome[name] = "exists"
        except Exception as exc:  # concurrent.futures.TimeoutError and the like
            raise InfrastructureError(f"cannot create topic {name}: {exc!r}") from None
    _wait_for_metadata(admin, {s.name: s.partitions for s in specs}, timeout)
    return outcome


def list_topics(
    settings: Settings, bootstrap: str | None = None, *, everything: bool = False, timeout: float = 30.0
) -> list[TopicInfo]:
    """Describe obspipe's topics (or, with `everything`, all topics) with their configs.

    Raises:
        InfrastructureError: the broker did not answer within `timeout`.
    """
    admin = AdminClient(admin_config(settings, bootstrap))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise InfrastructureError(f"cannot list topics: {exc.args[0].str()}") from None
    wanted = {s.name for s in topic_specs(settings)}
    names = sorted(n for n in metadata.topics if everything or n in wanted)
    configs: dict[str, dict[str, str]] = {}
    if names:
        futures = admin.describe_configs([ConfigResource("topic", n) for n in names])
        for resource, future in futures.items():
            try:
                entries = future.result(timeout=timeout)
            except Exception:  # a broker without DescribeConfigs: show the topic without configs
                entries = {}
            configs[resource.name] = {k: str(v.value) for k, v in entries.items() if v.value is not None}
    return [TopicInfo(n, len(metadata.topics[n].partitions), configs.get(n, {})) for n in names]


def _wait_for_metadata(admin: AdminClient, partitions: dict[str, int], timeout: float) -> None:
    """Return once the metadata shows every topic with its partitions (creation is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        missing = [
            n for n, count in partitions.items() if n not in topics or len(topics[n].partitions) < count
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise InfrastructureError(f"topics not visible after {timeout:.0f}s: {', '.join(missing)}")
        time.sleep(0.05)


def require_partitions(
    settings: Settings, topic: str, bootstrap: str | None = None, timeout: float = 30.0
) -> None:
    """Check that `topic` exists with exactly `settings.topic_partitions` partitions.

    Apps that choose output partitions themselves (span-ingest's partitioner) call this at
    start: with another count, spans would go to partitions that do not exist, or a trace's
    partition would disagree with what OBSPIPE_TOPIC_PARTITIONS promises.

    Raises:
        InfrastructureError: the topic is missing or has another partition count.
    """
    admin = AdminClient(admin_config(settings, bootstrap))
    try:
        metadata = admin.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise InfrastructureError(f"cannot describe topic {topic}: {exc.args[0].str()}") from None
    if metadata is None or metadata.error is not None:
        raise InfrastructureError(f"topic {topic} does not exist; run `obspipe topics create`")
    if len(metadata.partitions) != settings.topic_partitions:
        raise InfrastructureError(
            f"topic {topic} has {len(metadata.partitions)} partitions but OBSPIPE_TOPIC_PARTITIONS is "
            f"{settings.topic_partitions}; make them agree"
        )
