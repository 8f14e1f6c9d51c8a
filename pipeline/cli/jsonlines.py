"""Reading JSON-lines input for the CLI: bad lines are reported on stderr and skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

from pipeline.errors import RecordError


class LineErrors:
    """Counts and reports bad input lines as `obspipe: line N: reason` on stderr."""

    def __init__(self) -> None:
        self.count = 0

    def report(self, number: int, message: str) -> None:
        self.count += 1
        click.echo(f"obspipe: line {number}: {message}", err=True)

    def exit_code(self) -> int:
        return 1 if self.count else 0


def json_lines(stream: IO[str], errors: LineErrors) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded value) for every non-blank line that is valid JSON."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            errors.report(number, f"not JSON: {exc}")


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value).decode())


def record_error_text(exc: RecordError) -> str:
    return f"{exc.reason}: {exc}"
