"""pytest fixtures for tests against a real broker and Redis (integration and e2e tiers).

Use from a conftest.py with `from pipeline.testing.fixtures import *  # noqa: F403`.

- `kafka_broker` / `redis_server` (session): started once, testcontainers-like surface
  (`get_bootstrap_server()` / `get_connection_url()`), see pipeline.testing.servers for the
  order in which they are looked for. They fail the tests, never skip them, when nothing starts.
- `kafka_bootstrap`, `redis_url` (session): the strings.
- `kafka` (session): a KafkaTestClient (create_topic, produce, consume_until).
- `unique_topic`, `unique_group` (factories): `unique_topic("spans")` -> "spans-<uuid>".
- `new_topic` (factory): creates a unique topic: `new_topic("spans", partitions=4)`.
- `obspipe_settings` (factory): Settings aimed at these servers, with per-test unique topic
  names and keyword overrides.
- `start_worker` (factory): `start_worker("span-ingest", settings)` runs `obspipe worker` as a
  subprocess (pipeline.testing.workers.WorkerProcess); every one is stopped at teardown.
- Tests marked `requires_real_kafka` are skipped (reported as skipped) unless the broker is
  a real Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import InfrastructureError
from pipeline.settings import Settings, load_settings
from pipeline.testing.kafka import KafkaTestClient, unique_name
from pipeline.testing.servers import KafkaServer, RedisServer, start_test_kafka, start_test_redis
from pipeline.testing.workers import WorkerProcess

__all__ = [
    "_requires_real_kafka",
    "kafka",
    "kafka_bootstrap",
    "kafka_broker",
    "new_topic",
    "obspipe_settings",
    "redis_server",
    "redis_url",
    "start_worker",
    "unique_group",
    "unique_topic",
]

# Settings fields naming topics; obspipe_settings gives each test its own copies.
TOPIC_FIELDS = (
    "topic_spans_in",
    "topic_spans_by_trace",
    "topic_links",
    "topic_traces",
    "topic_metrics_in",
    "topic_red",
    "topic_slo_status",
    "topic_alerts_raw",
    "topic_pages",
    "topic_oncall_stats",
    "topic_dlq",
)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    """The session's Kafka: env, testcontainers or embedded; fails the tests if none starts."""
    try:
        server = start_test_kafka(tmp_path_factory.mktemp("kafka"))
    except InfrastructureError as exc:
        pytest.fail(f"no Kafka for the tests: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's Redis: env, testcontainers or embedded Valkey; fails the tests if none starts."""
    try:
        server = start_test_redis(tmp_path_factory.mktemp("redis"))
    except InfrastructureError as exc:
        pytest.fail(f"no Redis for the tests: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaServer) -> str:
    return kafka_broker.get_bootstrap_server()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.get_connection_url()


@pytest.fixture(scope="session")
def kafka(kafka_bootstrap: str) -> Iterator[KafkaTestClient]:
    client = KafkaTestClient(kafka_bootstrap)
    yield client
    client.close()


@pytest.fixture
def unique_topic() -> Callable[[str], str]:
    return unique_name


@pytest.fixture
def unique_group() -> Callable[[str], str]:
    return unique_name


@pytest.fixture
def new_topic(kafka: KafkaTestClient) -> Callable[..., str]:
    """Factory: `new_topic(prefix, partitions=1, config=None)` creates a unique topic."""

    def create(prefix: str = "topic", partitions: int = 1, config: dict[str, str] | None = None) -> str:
        return kafka.create_topic(unique_name(prefix), partitions, config)

    return create


@pytest.fixture
def obspipe_settings(kafka_bootstrap: str, tmp_path: Path) -> Callable[..., Settings]:
    """Factory: Settings on the session broker with unique topic and group names; Redis only if asked.

    `obspipe_settings(redis_url=url, topic_partitions=4)`: keyword overrides win. Topic names
    are unique per call of the fixture (one set per test), so tests never see each other's data.
    """
    suffix = unique_name("t").split("-", 1)[1]
    topics = {name: f"{Settings.model_fields[name].default}-{suffix}" for name in TOPIC_FIELDS}

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap": kafka_bootstrap,
            "run_dir": tmp_path / "run",
            "worker_group_prefix": f"test-{suffix}",
            **topics,
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: `start_worker(name, settings, loglevel="warning")`; all are stopped at teardown."""
    workers: list[WorkerProcess] = []

    def start(name: str, settings: Settings, loglevel: str = "warning") -> WorkerProcess:
        log_path = tmp_path / "workers" / f"{name}-{len(workers)}.log"
        worker = WorkerProcess(name, settings, log_path, loglevel=loglevel)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop(timeout=20)


@pytest.fixture(autouse=True)
def _requires_real_kafka(request: pytest.FixtureRequest) -> None:
    """Skip tests marked requires_real_kafka unless the session's broker is a real Kafka."""
    if request.node.get_closest_marker("requires_real_kafka") is None:
        return
    broker: KafkaServer = request.getfixturevalue("kafka_broker")
    if not broker.is_real_kafka:
        pytest.skip(f"needs Apache Kafka; the {broker.kind} broker does not implement this")
