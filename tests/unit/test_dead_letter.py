"""The dead-letter record of DESIGN.md §3."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from pipeline.domain.dead_letter import dead_letter, origin

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "dead_letter.v1.json").read_text())


def test_dead_letter_names_reason_origin_and_keeps_the_bytes() -> None:
    """A dead letter carries the error, reason, source position, UTC time and the raw value in base64."""
    record = dead_letter(
        b"\x00not json",
        topic="otlp_spans",
        partition=3,
        offset=42,
        error="not valid JSON: unexpected character",
        reason="decode_error",
        received_at_ns=1_700_000_000_123_000_000,
    )
    assert record == {
        "schema": "dead_letter/v1",
        "error": "not valid JSON: unexpected character",
        "reason": "decode_error",
        "source": {"topic": "otlp_spans", "partition": 3, "offset": 42},
        "origin": "otlp_spans[3]@42",
        # 1_700_000_000 s after the epoch is 2023-11-14 22:13:20 UTC.
        "received_at": "2023-11-14T22:13:20.123Z",
        "value_b64": "AG5vdCBqc29u",  # base64 of b"\x00not json", worked out by hand
    }
    jsonschema.validate(record, SCHEMA)


def test_tombstone_has_null_value() -> None:
    """A record without a value (a tombstone) is dead-lettered with value_b64 null."""
    record = dead_letter(None, topic="t", partition=0, offset=0, error="e", reason="r", received_at_ns=0)
    assert record["value_b64"] is None
    assert record["received_at"] == "1970-01-01T00:00:00.000Z"
    jsonschema.validate(record, SCHEMA)


def test_origin_format() -> None:
    """Records are named topic[partition]@offset."""
    assert origin("obspipe.spans-by-trace", 12, 7) == "obspipe.spans-by-trace[12]@7"
