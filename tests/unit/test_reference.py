"""docs/reference.md is generated from the settings model and schemas/ and must be current."""

from __future__ import annotations

from pathlib import Path

from pipeline.reference import reference
from pipeline.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_reference_is_up_to_date() -> None:
    """The committed reference equals a fresh generation (run `python -m pipeline.reference`)."""
    assert DOC.read_text() == reference(), "run: .venv/bin/python -m pipeline.reference > docs/reference.md"


def test_every_setting_is_documented() -> None:
    """Each field of Settings has a description naming its env var."""
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"OBSPIPE_{name.upper()}" in field.description, name
