"""Find or start the infrastructure a command needs: Kafka and Redis.

The configured URL wins (OBSPIPE_KAFKA_BOOTSTRAP / OBSPIPE_REDIS_URL); without one, an embedded
server is started and returned as the handle, which the caller stops (it also stops at exit).
"""

from __future__ import annotations

from pipeline.adapters.kafka.embedded import EmbeddedBroker
from pipeline.adapters.redis.embedded import EmbeddedRedis
from pipeline.settings import Settings


def ensure_kafka(settings: Settings) -> tuple[str, EmbeddedBroker | None]:
    """Return `(bootstrap, handle)`: the configured Kafka, or a started embedded broker.

    Raises:
        InfrastructureError: no Kafka is configured and the embedded broker cannot start.
    """
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap, None
    broker = EmbeddedBroker.from_settings(settings).start()
    return broker.get_bootstrap_server(), broker


def ensure_redis(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """Return `(url, handle)`: the configured Redis, or a started embedded Valkey.

    Raises:
        InfrastructureError: no Redis is configured and the embedded Valkey cannot start.
    """
    if settings.redis_url:
        return settings.redis_url, None
    server = EmbeddedRedis.from_settings(settings).start()
    return server.get_connection_url(), server
