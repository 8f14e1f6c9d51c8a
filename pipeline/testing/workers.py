"""Worker subprocesses for tests: the same class the demo uses (pipeline.adapters.worker_process)."""

from pipeline.adapters.worker_process import WorkerProcess, settings_env

__all__ = ["WorkerProcess", "settings_env"]
