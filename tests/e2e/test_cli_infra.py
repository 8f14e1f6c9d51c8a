"""`obspipe dev up`, `obspipe topics` and `obspipe worker` driven as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from pipeline.adapters.kafka.embedded import wait_for_kafka
from pipeline.errors import InfrastructureError
from pipeline.settings import ENV_PREFIX, Settings
from pipeline.testing.kafka import KafkaTestClient
from pipeline.testing.workers import settings_env

pytestmark = pytest.mark.timeout(180)

ENTRY = "import sys; from pipeline.cli import main; sys.exit(main())"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(extra)
    return env


def _obspipe(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_dev_up_prints_working_exports_and_stops_both_servers(tmp_path: Path) -> None:
    """`obspipe dev up` prints two export lines whose broker and Redis answer, and Ctrl-C stops both."""
    env = _clean_env(OBSPIPE_RUN_DIR=str(tmp_path), OBSPIPE_TOPIC_PARTITIONS="2")
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "dev", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        exports = dict(proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(2))
        assert set(exports) == {"OBSPIPE_KAFKA_BOOTSTRAP", "OBSPIPE_REDIS_URL"}
        bootstrap, url = exports["OBSPIPE_KAFKA_BOOTSTRAP"], exports["OBSPIPE_REDIS_URL"]
        wait_for_kafka(bootstrap, timeout=10)
        assert redis.Redis.from_url(url).ping()
        listed = _obspipe(["topics", "list"], _clean_env(OBSPIPE_KAFKA_BOOTSTRAP=bootstrap))
        assert listed.returncode == 0, listed.stderr
        assert "otlp_spans" in listed.stdout and "partitions=2" in listed.stdout
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_topics_create_is_idempotent_and_list_shows_configs(
    kafka_bootstrap: str, obspipe_settings: Callable[..., Settings]
) -> None:
    """`topics create` creates all eleven topics once, says `exists` the second time, and `topics list`
    shows their partition counts and retention."""
    settings = obspipe_settings(topic_partitions=3)
    env = _clean_env(**settings_env(settings))
    first = _obspipe(["topics", "create"], env)
    second = _obspipe(["topics", "create"], env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.count("created ") == 11 and "exists" not in first.stdout
    assert second.stdout.count("exists ") == 11 and "created" not in second.stdout
    listed = _obspipe(["topics", "list"], env)
    dlq_line = next(line for line in listed.stdout.splitlines() if line.startswith(settings.topic_dlq))
    assert "partitions=3" in dlq_line and "retention.ms=1209600000" in dlq_line  # 14 days


def test_topics_without_a_broker_is_one_line_error() -> None:
    """Without OBSPIPE_KAFKA_BOOTSTRAP, `topics list` exits 2 with one line naming the variable."""
    result = _obspipe(["topics", "list"], _clean_env())
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "OBSPIPE_KAFKA_BOOTSTRAP" in result.stderr


def test_worker_rejects_unknown_app() -> None:
    """`obspipe worker nope` exits 2 and lists the app names."""
    result = _obspipe(["worker", "nope"], _clean_env(OBSPIPE_KAFKA_BOOTSTRAP="127.0.0.1:1"))
    assert result.returncode == 2
    assert "unknown app 'nope'" in result.stderr and "span-ingest" in result.stderr


def test_worker_stops_cleanly_on_sigterm(
    obspipe_settings: Callable[..., Settings], kafka: KafkaTestClient, tmp_path: Path
) -> None:
    """A span-ingest worker started from the CLI creates its topics, ingests, and exits 0 on SIGTERM."""
    settings = obspipe_settings(topic_partitions=2)
    env = _clean_env(**settings_env(settings))
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "worker", "span-ingest"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while settings.topic_spans_in not in kafka.admin.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        span = (
            b'{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331",'
            b'"name":"GET /","start_time_unix_nano":1,"end_time_unix_nano":2,'
            b'"resource":{"service.name":"web"}}'
        )
        kafka.produce(settings.topic_spans_in, [span])
        kafka.consume_until(settings.topic_spans_by_trace, lambda rs: len(rs) >= 1, timeout=120)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


def test_worker_without_a_bootstrap_runs_on_its_own_embedded_broker(tmp_path: Path) -> None:
    """Without OBSPIPE_KAFKA_BOOTSTRAP a worker starts its own embedded broker, says so on stderr,
    and takes it down when it stops."""
    env = _clean_env(OBSPIPE_RUN_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "worker", "span-ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "started an embedded broker at 127.0.0.1:" in line, line
        bootstrap = line.split(" at ", 1)[1].split()[0]
        wait_for_kafka(bootstrap, timeout=30)
        deadline = time.monotonic() + 60
        client = KafkaTestClient(bootstrap)
        while "otlp_spans" not in client.admin.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline, "the worker did not create its topics"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        with pytest.raises(InfrastructureError, match="no Kafka answer"):
            wait_for_kafka(bootstrap, timeout=3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
