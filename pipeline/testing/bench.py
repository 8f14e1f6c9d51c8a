"""Measuring helpers for benchmarks: CPU time of this or another process, next to wall time."""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What the benchmarks read of a process's or thread's /proc `stat` file (Linux)."""

    cpu_s: float  # user + system
    system_s: float
    minor_faults: int  # each costs microseconds on a VM: a sign of memory returned and re-touched


def proc_stat(path: Path) -> ProcStat:
    """Parse `path` (/proc/PID/stat or /proc/PID/task/TID/stat); fields count from after the
    parenthesised command name, which may itself contain spaces."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) / TICKS_PER_S, int(fields[12]) / TICKS_PER_S
    return ProcStat(user + system, system, int(fields[7]))


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads)."""
    return proc_stat(Path(f"/proc/{pid}/stat")).cpu_s


@dataclass(slots=True)
class Elapsed:
    """CPU and wall seconds of a measured block; filled when the block ends."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    system_s: float = 0.0  # of cpu_s, in the kernel
    minor_faults: int = 0  # each costs microseconds on a VM: a sign of memory returned and re-touched


@contextmanager
def measured(
    *, freeze_gc: bool = True, gc_thresholds: tuple[int, int, int] | None = None
) -> Iterator[Elapsed]:
    """Measure this process's CPU and wall time over the block, with start-up objects frozen out
    of the GC as the stream apps do after start (so the baseline gets the same GC treatment).

    `gc_thresholds` (the workers' `stream_apps.common.GC_THRESHOLDS`) apply inside the block only.
    """
    if freeze_gc:
        gc.collect()
        gc.freeze()
    saved = gc.get_threshold()
    if gc_thresholds is not None:
        gc.set_threshold(*gc_thresholds)
    elapsed = Elapsed()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.cpu_s, elapsed.wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        elapsed.system_s = usage.ru_stime - usage0.ru_stime
        elapsed.minor_faults = usage.ru_minflt - usage0.ru_minflt
        gc.set_threshold(*saved)
        if freeze_gc:
            gc.unfreeze()
