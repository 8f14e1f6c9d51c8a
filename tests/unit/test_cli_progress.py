"""Progress on large inputs never changes what a command reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.cli.progress import MIN_BYTES, reading


def _big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.jsonl"
    line = b'{"slo": "a", "time_unix_nano": 0, "good": 1, "total": 1}\n'
    path.write_bytes(line * (MIN_BYTES // len(line) + 10))
    return path


def test_small_or_piped_input_is_passed_through(tmp_path: Path) -> None:
    """Below the size threshold the stream itself is returned, unwrapped."""
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"{}\n")
    with path.open("rb") as stream, reading(stream, "x") as lines:
        assert lines is stream


def test_wrapped_large_file_yields_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a terminal on stderr a large file is wrapped, and every line still comes through."""
    path = _big_file(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with path.open("rb") as stream, reading(stream, "reading") as lines:
        assert lines is not stream
        got = list(lines)
    assert b"".join(got) == path.read_bytes()
