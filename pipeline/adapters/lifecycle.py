"""The lifecycle every embedded server shares: start/stop, a context manager, stop at exit."""

from __future__ import annotations

import atexit
import contextlib
from types import TracebackType
from typing import Self


class EmbeddedServer:
    """Base of the embedded servers: subclasses implement `_start()`, `_stop()` and `is_running()`.

    The surface is that of testcontainers' containers, so tests can use either: `start()`
    returns the server, `stop()` is idempotent, `with Server() as s:` stops on leaving, and a
    server still running when the interpreter exits is stopped then.
    """

    def start(self) -> Self:
        """Start the server if it is not running and wait until it answers."""
        if not self.is_running():
            self._start()
            atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server; does nothing if it is not running."""
        self._stop()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def is_running(self) -> bool:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
