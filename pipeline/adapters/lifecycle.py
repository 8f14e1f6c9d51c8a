"""What every embedded server shares: start/stop, a context manager, stop at exit, and
spawning/stopping its process so that it never outlives obspipe."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` (15 bytes at most) in the OS, so that `top -H`, /proc and
    the benchmarks tell its CPU apart from the event loop's. Best effort: a no-op off Linux."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when its parent dies, even by kill -9.

    libc is looked up here, before the fork, so the hook itself only makes one system call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


def spawn_server(
    argv: Sequence[str], log_path: Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server process in its own process group, stdout and stderr appended to `log_path`
    (`env`: its whole environment; default this one's).

    On Linux the process is killed when the thread that started it ends, even by SIGKILL, so a
    test run, a demo or a worker that dies leaves no server behind.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group, so stop_process() reaches every child
            preexec_fn=_pdeathsig_hook(),  # noqa: PLW1509 - one prctl call, no locks
        )


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """SIGTERM the process group of `process`, SIGKILL it after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


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
