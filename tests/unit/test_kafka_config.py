"""librdkafka configs built from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.kafka.config import consumer_config, producer_config
from pipeline.errors import ConfigError
from pipeline.settings import load_settings


def test_producer_config_is_idempotent_batching_and_plaintext_by_default() -> None:
    """The default producer is idempotent with acks=all, lingers 10 ms and uses PLAINTEXT."""
    conf = producer_config(load_settings(kafka_bootstrap="k1:9092,k2:9092"))
    assert conf["bootstrap.servers"] == "k1:9092,k2:9092"
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["linger.ms"] == 10
    assert conf["security.protocol"] == "plaintext"
    assert not any(key.startswith(("sasl.", "ssl.")) for key in conf)


def test_sasl_ssl_settings_reach_librdkafka(tmp_path: Path) -> None:
    """SASL mechanism, username, password and CA file are passed through under librdkafka's names."""
    settings = load_settings(
        kafka_bootstrap="k:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="obspipe",
        kafka_sasl_password="s3cret",
        kafka_ssl_ca_location=tmp_path / "ca.pem",
    )
    conf = producer_config(settings)
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "obspipe" and conf["sasl.password"] == "s3cret"
    assert conf["ssl.ca.location"] == str(tmp_path / "ca.pem")


def test_consumer_config_uses_the_embedded_broker_safe_timings() -> None:
    """Consumers use a 6 s session, 1 s heartbeat, a 500 ms fetch wait and a short queue backoff."""
    conf = consumer_config(load_settings(kafka_bootstrap="k:9092"), "g1", fetch_wait_max_ms=600)
    assert conf["group.id"] == "g1"
    assert conf["session.timeout.ms"] == 6000 and conf["heartbeat.interval.ms"] == 1000
    assert conf["fetch.wait.max.ms"] == 600  # keyword overrides win, underscores become dots
    assert 10 <= conf["fetch.queue.backoff.ms"] <= 50


def test_explicit_bootstrap_wins_and_none_is_a_config_error() -> None:
    """An explicit bootstrap beats the setting; with neither, a ConfigError names the variable."""
    settings = load_settings(kafka_bootstrap=None)
    assert producer_config(settings, "x:1")["bootstrap.servers"] == "x:1"
    with pytest.raises(ConfigError, match="OBSPIPE_KAFKA_BOOTSTRAP"):
        producer_config(settings)
