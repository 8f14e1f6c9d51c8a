"""Settings load from OBSPIPE_* variables and fail with one line naming the field."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import load_settings


def test_env_var_sets_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSPIPE_KAFKA_BOOTSTRAP reaches kafka_bootstrap."""
    monkeypatch.setenv("OBSPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    assert load_settings().kafka_bootstrap == "127.0.0.1:19092"


def test_bad_value_is_one_line_naming_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad number gives one line that names the env var."""
    monkeypatch.setenv("OBSPIPE_TOPIC_PARTITIONS", "zero")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "OBSPIPE_TOPIC_PARTITIONS" in message
    assert "\n" not in message


def test_literal_lists_allowed_values() -> None:
    """An unknown security protocol names the allowed ones."""
    with pytest.raises(ConfigError) as info:
        load_settings(kafka_security_protocol="TLS")
    assert "SASL_SSL" in str(info.value)


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after load."""
    settings = load_settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        settings.idle_timeout_s = 1.0  # type: ignore[misc]
