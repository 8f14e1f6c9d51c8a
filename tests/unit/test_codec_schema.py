"""schemas/span.v1.json: a valid draft 2020-12 schema that every encoded span satisfies, and that bites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from codec_samples import minimal_span_dict, otlp_json_request, span_dict, spans
from hypothesis import given, settings

from pipeline.domain.codec import decode_spans, iter_records, span_from_dict, span_to_dict
from pipeline.domain.span import Span

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "span.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _as_json(span: Span) -> Any:
    return orjson.loads(orjson.dumps(span_to_dict(span)))


def test_schema_is_valid_draft_2020_12_with_id_and_version() -> None:
    """The schema itself is valid JSON Schema 2020-12, has an $id and says v1 in its title."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith("/span.v1.json")
    assert "v1" in SCHEMA["title"]


def test_decoded_sample_spans_validate() -> None:
    """span_to_dict output for obspipe JSON, minimal and OTLP-decoded spans satisfies the schema."""
    decoded = [span_from_dict(span_dict()), span_from_dict(minimal_span_dict())]
    decoded += decode_spans(orjson.dumps(otlp_json_request()))
    for span in decoded:
        VALIDATOR.validate(_as_json(span))


@settings(max_examples=100, deadline=None)
@given(spans())
def test_generated_spans_validate(span: Span) -> None:
    """Every generated valid span, once encoded, satisfies the schema."""
    VALIDATOR.validate(_as_json(span))


@pytest.mark.parametrize("sample", ["spans.jsonl", "otlp_batch.json"])
def test_bundled_samples_decode_and_validate(sample: str) -> None:
    """The sample input files decode without a bad record and every span satisfies the schema."""
    results = list(iter_records((ROOT / "samples" / sample).read_bytes()))
    assert results
    assert [r.error for r in results if r.error] == []
    for result in results:
        for span in result.spans:
            VALIDATOR.validate(_as_json(span))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trace_id", "zz"),
        ("trace_id", "0" * 32),
        ("span_id", "ABCDEF0123456789"),
        ("parent_span_id", ""),
        ("kind", "SPAN_KIND_SERVER"),
        ("start_time_unix_nano", "1"),
        ("status", {"code": "FAILED", "message": ""}),
        ("resource", {"host.name": "h"}),
        ("flags", -1),
    ],
)
def test_schema_rejects_what_the_encoder_never_writes(field: str, value: Any) -> None:
    """Non-canonical or invalid values fail the schema, so the checks above are not vacuous."""
    obj = _as_json(span_from_dict(span_dict()))
    obj[field] = value
    assert not VALIDATOR.is_valid(obj)
