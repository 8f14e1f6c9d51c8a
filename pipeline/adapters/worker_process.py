"""Run `obspipe worker NAME` as a subprocess (the demo, tests, benchmarks) and always clean it up.

A subprocess keeps faust's event loop, signal handlers and logging out of the test process,
and can be killed with SIGKILL to test crash recovery.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from pipeline.adapters.lifecycle import spawn_server
from pipeline.settings import ENV_PREFIX, Settings

# The `obspipe` console script, run with this interpreter (no PATH or venv activation needed).
_ENTRY = "import sys; from pipeline.cli import main; sys.exit(main())"


def settings_env(settings: Settings) -> dict[str, str]:
    """The OBSPIPE_* environment that reproduces `settings` in another process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """One `obspipe worker NAME` subprocess in its own process group, logging to `log_path`."""

    def __init__(self, name: str, settings: Settings, log_path: Path, *, loglevel: str = "warning") -> None:
        self.name = name
        self.settings = settings
        self.log_path = log_path
        self.loglevel = loglevel
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Spawn the worker (topics are created by the test, not by the worker)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(settings_env(self.settings))
        argv = [sys.executable, "-c", _ENTRY, "worker", self.name, "-l", self.loglevel, "--no-create-topics"]
        # Its own process group (kill() reaches faust's children too), killed with its starter.
        self.process = spawn_server(argv, self.log_path, env=env)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "worker not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: a crash, nothing flushed or committed."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: flush, commit), SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        return self.process.returncode

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Wait until `text` appears in the worker's log; AssertionError with the tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_tail(1_000_000):
                return
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} never logged {text!r}; log tail:\n{self.log_tail()}")

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
