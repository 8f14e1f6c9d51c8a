"""Pick the Kafka and Redis that tests run against, all with one testcontainers-like surface.

Order (DESIGN.md §6): the URL in OBSPIPE_KAFKA_BOOTSTRAP / OBSPIPE_REDIS_URL; then Docker
containers through testcontainers when OBSPIPE_TEST_BROKER=testcontainers and a Docker engine
answers; else the embedded broker and Valkey. Whatever cannot start raises
InfrastructureError: a test run without its broker fails, it never skips.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from pipeline.adapters.kafka.embedded import EmbeddedBroker, wait_for_kafka
from pipeline.adapters.redis.embedded import EmbeddedRedis
from pipeline.errors import InfrastructureError

# The embedded broker's default cluster id; any other id means a real Kafka (or another broker).
TANSU_CLUSTER_ID = "tansu_cluster"


class KafkaServer(Protocol):
    kind: str  # "env" | "testcontainers" | "embedded"
    is_real_kafka: bool

    def get_bootstrap_server(self) -> str: ...
    def stop(self) -> None: ...


class RedisServer(Protocol):
    kind: str

    def get_connection_url(self) -> str: ...
    def stop(self) -> None: ...


@dataclass
class ExternalKafka:
    """A Kafka someone else runs (OBSPIPE_KAFKA_BOOTSTRAP); stop() leaves it alone."""

    bootstrap: str
    is_real_kafka: bool
    kind: str = "env"

    def get_bootstrap_server(self) -> str:
        return self.bootstrap

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


@dataclass
class ExternalRedis:
    """A Redis someone else runs (OBSPIPE_REDIS_URL); stop() leaves it alone."""

    url: str
    kind: str = "env"

    def get_connection_url(self) -> str:
        return self.url

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


@dataclass
class ContainerKafka:
    """Apache Kafka (KRaft) in Docker via testcontainers."""

    container: Any
    kind: str = "testcontainers"
    is_real_kafka: bool = True

    def get_bootstrap_server(self) -> str:
        return str(self.container.get_bootstrap_server())

    def stop(self) -> None:
        self.container.stop()


@dataclass
class ContainerRedis:
    """Redis in Docker via testcontainers (whose RedisContainer has no URL getter)."""

    container: Any
    kind: str = "testcontainers"

    def get_connection_url(self) -> str:
        host = self.container.get_container_host_ip()
        return f"redis://{host}:{self.container.get_exposed_port(6379)}/0"

    def stop(self) -> None:
        self.container.stop()


@dataclass
class EmbeddedKafka:
    """The embedded broker, labelled for the fixtures."""

    broker: EmbeddedBroker
    kind: str = "embedded"
    is_real_kafka: bool = False
    log_path: Path | None = field(default=None)

    def get_bootstrap_server(self) -> str:
        return self.broker.get_bootstrap_server()

    def stop(self) -> None:
        self.broker.stop()


@dataclass
class EmbeddedValkey:
    """The embedded Valkey, labelled for the fixtures."""

    server: EmbeddedRedis
    kind: str = "embedded"

    def get_connection_url(self) -> str:
        return self.server.get_connection_url()

    def stop(self) -> None:
        self.server.stop()


def docker_available() -> bool:
    """True when a Docker engine answers a ping; checks the socket file exists before trying."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    parsed = urlparse(host)
    if parsed.scheme in ("unix", "") and not Path(parsed.path or host).exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no engine, permission denied, bad DOCKER_HOST: not available
        return False


def _wants_containers() -> bool:
    return os.environ.get("OBSPIPE_TEST_BROKER", "").strip().lower() == "testcontainers"


def start_test_kafka(log_dir: Path) -> KafkaServer:
    """Start (or find) the Kafka the tests use; see the module docstring for the order.

    Raises:
        InfrastructureError: nothing could be reached or started.
    """
    bootstrap = os.environ.get("OBSPIPE_KAFKA_BOOTSTRAP", "").strip()
    if bootstrap:
        wait_for_kafka(bootstrap, timeout=30)
        return ExternalKafka(bootstrap, is_real_kafka=_cluster_id(bootstrap) != TANSU_CLUSTER_ID)
    if _wants_containers():
        if not docker_available():
            raise InfrastructureError("OBSPIPE_TEST_BROKER=testcontainers but no Docker engine answers")
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:
            from testcontainers.kafka import KafkaContainer
        container = KafkaContainer().with_kraft()
        container.start()
        return ContainerKafka(container)
    broker = EmbeddedBroker(log_dir=log_dir).start()
    return EmbeddedKafka(broker, log_path=broker.log_path)


def start_test_redis(data_dir: Path) -> RedisServer:
    """Start (or find) the Redis the tests use; see the module docstring for the order.

    Raises:
        InfrastructureError: nothing could be started.
    """
    url = os.environ.get("OBSPIPE_REDIS_URL", "").strip()
    if url:
        return ExternalRedis(url)
    if _wants_containers():
        if not docker_available():
            raise InfrastructureError("OBSPIPE_TEST_BROKER=testcontainers but no Docker engine answers")
        try:
            from testcontainers.community.redis import RedisContainer
        except ImportError:
            from testcontainers.redis import RedisContainer
        container = RedisContainer()
        container.start()
        return ContainerRedis(container)
    return EmbeddedValkey(EmbeddedRedis(data_dir=data_dir).start())


def _cluster_id(bootstrap: str) -> str | None:
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return metadata.cluster_id
