"""The broker and Redis the tests run on, the embedded servers themselves, and the test client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from pipeline.adapters.infra import ensure_kafka, ensure_redis
from pipeline.adapters.kafka.embedded import EmbeddedBroker, wait_for_kafka
from pipeline.adapters.redis.embedded import EmbeddedRedis
from pipeline.errors import InfrastructureError
from pipeline.settings import load_settings
from pipeline.testing.kafka import KafkaTestClient

pytestmark = pytest.mark.timeout(120)


def test_session_broker_answers_metadata(kafka_bootstrap: str) -> None:
    """The session broker answers a real Kafka metadata request."""
    wait_for_kafka(kafka_bootstrap, timeout=10)


def test_session_redis_answers_ping(redis_url: str) -> None:
    """The session Redis stores and returns a value."""
    client = redis.Redis.from_url(redis_url)
    client.set("obspipe:test:ping", b"pong", ex=60)
    assert client.get("obspipe:test:ping") == b"pong"


def test_produced_records_come_back_in_order_per_partition(
    kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    """Records produced to one partition are consumed with their keys, headers and order intact."""
    topic = new_topic("order", partitions=2)
    values = [f"v{i}".encode() for i in range(50)]
    kafka.produce(topic, values, key=b"k", headers=[("content-type", b"text/plain")], partition=1)
    records = kafka.consume_until(topic, lambda rs: len(rs) >= 50, timeout=60)
    assert [r.value for r in records] == values
    assert {r.partition for r in records} == {1}
    assert all(r.key == b"k" and r.header("content-type") == b"text/plain" for r in records)


def test_consume_until_fails_when_condition_never_holds(
    kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    """consume_until raises AssertionError naming the record count when the deadline passes."""
    topic = new_topic("never")
    kafka.produce(topic, [b"only"])
    with pytest.raises(AssertionError, match=r"\(1 records\)"):
        kafka.consume_until(topic, lambda rs: len(rs) >= 2, timeout=3)


def test_embedded_broker_starts_on_a_free_port_and_stops(tmp_path: Path) -> None:
    """Two embedded brokers run side by side on different ports and both stop on exit."""
    with EmbeddedBroker(log_dir=tmp_path) as one, EmbeddedBroker(log_dir=tmp_path) as two:
        assert one.get_bootstrap_server() != two.get_bootstrap_server()
        assert one.get_bootstrap_server().startswith("127.0.0.1:")
        wait_for_kafka(two.get_bootstrap_server(), timeout=10)
        process = two._process
    assert not one.is_running() and not two.is_running()
    assert process is not None and process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # signal 0: the whole process group is gone
    assert (tmp_path / f"tansu-{one.port}.log").exists()


def test_missing_broker_binary_names_the_setting(tmp_path: Path) -> None:
    """A missing broker binary raises one line naming OBSPIPE_TANSU_BIN."""
    broker = EmbeddedBroker(binary=tmp_path / "no-such-tansu", log_dir=tmp_path)
    with pytest.raises(InfrastructureError, match="OBSPIPE_TANSU_BIN") as info:
        broker.start()
    assert "\n" not in str(info.value)


def test_embedded_redis_never_uses_6379(tmp_path: Path) -> None:
    """The embedded Valkey listens on 127.0.0.1 on a port other than 6379 and stops cleanly."""
    with EmbeddedRedis(data_dir=tmp_path) as server:
        url = server.get_connection_url()
        assert url.startswith("redis://127.0.0.1:") and ":6379/" not in url
        assert redis.Redis.from_url(url).ping()
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()


def test_ensure_prefers_configured_urls(tmp_path: Path) -> None:
    """With both URLs configured, ensure_* return them and start nothing."""
    settings = load_settings(
        kafka_bootstrap="broker.example:9092", redis_url="redis://cache.example:6380/1", run_dir=tmp_path
    )
    assert ensure_kafka(settings) == ("broker.example:9092", None)
    assert ensure_redis(settings) == ("redis://cache.example:6380/1", None)
    assert not (tmp_path / "logs").exists()


def test_ensure_starts_embedded_servers_without_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without URLs, ensure_* start an embedded broker and Valkey that answer, logging under run_dir."""
    monkeypatch.delenv("OBSPIPE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("OBSPIPE_REDIS_URL", raising=False)
    settings = load_settings(run_dir=tmp_path)
    bootstrap, broker = ensure_kafka(settings)
    url, valkey = ensure_redis(settings)
    try:
        assert broker is not None and valkey is not None
        wait_for_kafka(bootstrap, timeout=10)
        assert redis.Redis.from_url(url).ping()
        assert list((tmp_path / "logs").glob("tansu-*.log"))
    finally:
        if broker is not None:
            broker.stop()
        if valkey is not None:
            valkey.stop()


@pytest.mark.requires_real_kafka
def test_high_watermark_counts_every_record(kafka: KafkaTestClient, new_topic: Callable[..., str]) -> None:
    """On Apache Kafka the high watermark equals the number of records produced to a partition."""
    from confluent_kafka import Consumer, TopicPartition

    topic = new_topic("hwm")
    kafka.produce(topic, [b"a", b"b", b"c"])
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "hwm"})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    assert high == 3


def test_embedded_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """When the process that started the broker and Valkey is SIGKILLed, both servers go too."""
    script = (
        "import sys, time; from pathlib import Path\n"
        "from pipeline.adapters.kafka.embedded import EmbeddedBroker\n"
        "from pipeline.adapters.redis.embedded import EmbeddedRedis\n"
        f"b = EmbeddedBroker(log_dir=Path({str(tmp_path)!r})).start()\n"
        f"r = EmbeddedRedis(data_dir=Path({str(tmp_path)!r})).start()\n"
        "print(b._process.pid, r._process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)  # both alive while the parent lives
    finally:
        parent.kill()
        parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        time.sleep(0.1)
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        # a zombie (dead, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
