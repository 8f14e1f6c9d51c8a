"""librdkafka configuration dicts (confluent-kafka) built from obspipe's settings.

The values suit both Apache Kafka and the embedded broker (DESIGN.md §6); the numbers that
look unusual are there because of what the embedded broker does, and are valid on Kafka too.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import ConfigError
from pipeline.settings import Settings

# The embedded broker holds a group join for half the session timeout: 6 s keeps a join at
# ~3 s instead of ~22 s with librdkafka's 45 s default; a 1 s heartbeat fits inside it.
SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_INTERVAL_MS = 1_000
# Below the 500 ms default, the embedded broker answers fetches empty and consumers starve.
FETCH_WAIT_MAX_MS = 500
# How long librdkafka backs off when its fetch queue is full; its 1 s default idles partitions.
FETCH_QUEUE_BACKOFF_MS = 20
# Producers batch: the embedded broker's fetch cost grows with the number of record batches.
LINGER_MS = 10


def bootstrap_of(settings: Settings, bootstrap: str | None = None) -> str:
    """The bootstrap servers to use: the explicit argument, else OBSPIPE_KAFKA_BOOTSTRAP.

    Raises:
        ConfigError: neither is set (the caller should have started the embedded broker).
    """
    servers = bootstrap or settings.kafka_bootstrap
    if not servers:
        raise ConfigError(
            "no Kafka bootstrap servers: set OBSPIPE_KAFKA_BOOTSTRAP or start the embedded broker"
        )
    return servers


def security_config(settings: Settings) -> dict[str, Any]:
    """security.protocol plus the SASL and TLS keys the settings define."""
    conf: dict[str, Any] = {"security.protocol": settings.kafka_security_protocol.lower()}
    if settings.kafka_sasl_mechanism is not None:
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username is not None:
        conf["sasl.username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location is not None:
        conf["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return conf


def admin_config(settings: Settings, bootstrap: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Config for a confluent_kafka AdminClient."""
    return {"bootstrap.servers": bootstrap_of(settings, bootstrap), **security_config(settings), **overrides}


def producer_config(settings: Settings, bootstrap: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Config for an idempotent, batching confluent_kafka Producer.

    Idempotence (acks=all, ordered retries without duplicates) works on the embedded broker;
    transactions do not, so none are configured. Keyword overrides use librdkafka names with
    dots replaced by underscores, e.g. `linger_ms=20`.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_of(settings, bootstrap),
        **security_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": LINGER_MS,
        "message.max.bytes": settings.kafka_message_max_bytes,
    }
    conf.update(_dotted(overrides))
    return conf


def consumer_config(
    settings: Settings, group_id: str, bootstrap: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Config for a confluent_kafka Consumer in `group_id`, reading from the earliest offset."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_of(settings, bootstrap),
        **security_config(settings),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
    }
    conf.update(_dotted(overrides))
    return conf


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("_", "."): value for key, value in overrides.items()}
