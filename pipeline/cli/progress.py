"""Progress on stderr for commands that read large inputs (replays, offline assembly).

Shown only when stderr is a terminal and the input is a regular file of at least 1 MiB: a
pipe's size is unknown and small inputs finish before a bar would help; output on stdout is
never touched, so the JSON lines stay clean for the next program in a pipeline.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, BinaryIO, cast

MIN_BYTES = 1 << 20


def _file_size(stream: IO[bytes]) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if info.st_size and os.path.isfile(getattr(stream, "name", "")) else None


@contextlib.contextmanager
def reading(stream: IO[bytes], label: str) -> Iterator[IO[bytes]]:
    """`stream`, wrapped in a progress bar of bytes read when that is worth showing."""
    size = _file_size(stream)
    if size is None or size < MIN_BYTES or not sys.stderr.isatty():
        yield stream
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn()
    )
    progress = Progress(*columns, console=Console(stderr=True), transient=True)
    with progress, progress.wrap_file(cast(BinaryIO, stream), total=size, description=label) as wrapped:
        yield wrapped
