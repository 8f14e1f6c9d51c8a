"""The alert router's internal routing topic: one partition, so one worker routes every alert.

Grouping, inhibition and flap detection compare alerts with each other, so they must all be
seen by one router (as by one Alertmanager instance); intake (decoding, validation, the DLQ)
still scales with the partitions of `alerts.raw`. The name derives from `alerts.raw`'s, so
that per-test topic names give per-test routing topics. The app creates it on start, like
faust creates its internal topics.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from pipeline.adapters.kafka.config import admin_config
from pipeline.adapters.kafka.topics import RETENTION_INPUT_MS
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

SUFFIX = ".routing"


def routing_topic(settings: Settings) -> str:
    """`<alerts.raw>.routing`."""
    return f"{settings.topic_alerts_raw}{SUFFIX}"


def ensure_routing_topic(settings: Settings, bootstrap: str | None = None, timeout: float = 30.0) -> str:
    """Create the routing topic (1 partition) unless it exists; returns its name.

    Raises:
        InfrastructureError: the broker refused it or did not show it within `timeout`.
    """
    name = routing_topic(settings)
    admin = AdminClient(admin_config(settings, bootstrap))
    topic = NewTopic(name, 1, settings.topic_replication, config={"retention.ms": str(RETENTION_INPUT_MS)})
    future = admin.create_topics([topic], operation_timeout=timeout, request_timeout=timeout)[name]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise InfrastructureError(f"cannot create topic {name}: {exc.args[0].str()}") from None
    except Exception as exc:  # concurrent.futures.TimeoutError and the like
        raise InfrastructureError(f"cannot create topic {name}: {exc!r}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == 1:
            return name
        time.sleep(0.05)
    raise InfrastructureError(f"topic {name} not visible after {timeout}s")
