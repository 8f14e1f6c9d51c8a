"""Decoding Alertmanager webhook payloads and single alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.domain.alerting.model import decode_alerts, format_rfc3339, parse_rfc3339
from pipeline.errors import DecodeError, ValidationError

WEBHOOK = {
    "version": "4",
    "groupKey": "{}:{alertname=\"X\"}",
    "status": "firing",
    "receiver": "r",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "X", "service": "api"}, "annotations": {"summary": "s"},
         "startsAt": "2026-11-26T10:00:00.5+01:00", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom/graph", "fingerprint": "ignored"},
        {"status": "resolved", "labels": {"alertname": "Y"}, "startsAt": "2026-11-26T09:00:00Z",
         "endsAt": "2026-11-26T09:05:00Z"},
    ],
}


def test_rfc3339_offsets_and_fractions() -> None:
    """An offset and fractional seconds convert to the same instant in UTC."""
    assert parse_rfc3339("2026-11-26T10:00:00.5+01:00", "t") == parse_rfc3339("2026-11-26T09:00:00.5Z", "t")
    assert parse_rfc3339("1970-01-01T00:01:00Z", "t") == 60.0
    assert format_rfc3339(60.25) == "1970-01-01T00:01:00.250Z"


def test_webhook_payload_decodes_each_alert() -> None:
    """A version-4 payload yields its alerts; Go's zero time means no end."""
    alerts = decode_alerts(WEBHOOK)
    assert [a.name for a in alerts] == ["X", "Y"]
    assert alerts[0].ends_at is None
    assert alerts[0].starts_at == datetime(2026, 11, 26, 9, tzinfo=UTC).timestamp() + 0.5
    assert alerts[0].generator_url == "http://prom/graph"
    assert alerts[1].resolved_at(0.0)
    assert alerts[0].fingerprint != "ignored" and len(alerts[0].fingerprint) == 16


def test_single_alert_without_start_uses_record_time() -> None:
    """A single alert without startsAt starts at the supplied record time."""
    (alert,) = decode_alerts({"labels": {"alertname": "Z"}}, default_now=123.0)
    assert alert.starts_at == 123.0 and not alert.resolved_at(123.0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"labels": {"alertname": "X"}, "startsAt": "yesterday"}, "alert.startsAt"),
        ({"labels": {"alertname": 1}, "startsAt": "2026-01-01T00:00:00Z"}, "alert.labels.alertname"),
        ({"labels": {"bad-name": "x"}, "startsAt": "2026-01-01T00:00:00Z"}, "alert.labels"),
        ({"labels": {}, "startsAt": "2026-01-01T00:00:00Z"}, "alert.labels"),
        ({"version": "4", "alerts": [{"labels": {"a": "b"}, "startsAt": "2026-01-01T00:00:00Z",
                                      "status": "odd"}]}, "alerts[0].status"),
        ({"version": "3", "alerts": []}, "version"),
    ],
)
def test_bad_fields_raise_validation_error_naming_the_field(payload: dict[str, object], field: str) -> None:
    """Each malformed field raises ValidationError whose `field` names it."""
    with pytest.raises(ValidationError) as info:
        decode_alerts(payload)
    assert info.value.field == field
    assert info.value.reason == "validation_error"


def test_other_json_is_a_decode_error() -> None:
    """A JSON value of neither shape is a DecodeError."""
    with pytest.raises(DecodeError):
        decode_alerts([1, 2, 3])
