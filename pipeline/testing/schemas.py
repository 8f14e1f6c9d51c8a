"""JSON Schema validators for the records in schemas/, with cross-file `$ref`s resolved.

Test-only (jsonschema is a test extra): tests/unit and tests/e2e validate outputs with it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for `schemas/<name>.json` (e.g. "assembled_trace.v1") that follows its `$ref`s."""
    schema = json.loads((SCHEMAS_DIR / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())
