"""The pipeline under test: both obspipe worker subprocesses fed every batch at once, with the CPU
each spends (from /proc) until every trace is out."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import orjson

from pipeline.domain.windows import WindowOptions
from pipeline.settings import Settings
from pipeline.testing.bench import proc_stat, process_cpu_s
from pipeline.testing.workers import WorkerProcess

from .inputs import Batches, make_batches, produce_all, read_until, reader
from .profile import start_profiler


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (librdkafka and faust threads are named)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            cpu = proc_stat(task / "stat").cpu_s
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + cpu
    return out


def idle_cpu_pct(pids: list[int], seconds: float = 10.0, settle_s: float = 5.0) -> list[float]:
    """Percent of a core each process uses with nothing to do (its timers, polls, heartbeats),
    after `settle_s` for the last releases and commits."""
    time.sleep(settle_s)
    before = [process_cpu_s(pid) for pid in pids]
    time.sleep(seconds)
    return [100 * (process_cpu_s(pid) - cpu) / seconds for pid, cpu in zip(pids, before, strict=True)]


def warm_up(bootstrap: str, settings: Settings) -> float:
    """Warm-up traffic through both workers; returns its end-to-end rate (spans/s, wall).

    A first batch proves both workers are up and assigned; the rate is then timed over traffic
    that fills the assembler's late cache: from then on every released trace evicts an older one
    and its spans are freed, as in a long-running worker (a fresh worker frees nothing and
    measured ~10 % faster).
    """
    consumer = reader(bootstrap, settings, settings.topic_traces)
    for size, seed in ((1, 98), (settings.late_cache_max_spans + 10_000, 99)):
        batches, expected = make_batches(size, seed=seed)
        waiting = dict(expected)

        def arrived(msg: Any, waiting: dict[str, int] = waiting) -> bool:
            waiting.pop(orjson.loads(msg.value())["trace_id"], None)
            return not waiting

        wall0 = time.perf_counter()
        produce_all(bootstrap, settings, settings.topic_spans_in, batches)
        read_until(consumer, arrived, timeout=300)
        rate = sum(n for _, n in batches) / (time.perf_counter() - wall0)
    consumer.close()
    # Measure the steady state: for replay_tail_s after an assignment, released traces are
    # checked against the trace index in case a previous owner emitted them (a crash replay).
    time.sleep(WindowOptions().replay_tail_s)
    return rate


def run_pipeline(
    bootstrap: str,
    settings: Settings,
    batches: Batches,
    expected: dict[str, int],
    workers: list[WorkerProcess],
    *,
    profile_dir: Path | None = None,
) -> tuple[list[float], float]:
    """Feed every batch at once; (CPU s of each worker, wall s) until every trace is out."""
    consumer = reader(bootstrap, settings, settings.topic_traces)
    cpu0 = [process_cpu_s(w.pid) for w in workers]
    threads0 = [thread_cpu_s(w.pid) for w in workers]
    stat0 = [proc_stat(Path(f"/proc/{w.pid}/stat")) for w in workers]
    spies = [start_profiler(w.pid, profile_dir / f"{w.name}.folded") for w in workers] if profile_dir else []
    wall0 = time.perf_counter()
    produce_all(bootstrap, settings, settings.topic_spans_in, batches)
    missing = dict(expected)

    def done(msg: Any) -> bool:
        doc = orjson.loads(msg.value())
        if len(doc["spans"]) >= missing.get(doc["trace_id"], 1 << 30):
            del missing[doc["trace_id"]]
        return not missing

    read_until(consumer, done, timeout=300)
    wall = time.perf_counter() - wall0
    cpu = [process_cpu_s(w.pid) - c0 for w, c0 in zip(workers, cpu0, strict=True)]
    # Page faults: ~4.5 µs each on this kind of VM, so memory the allocator returns and
    # touches again is a CPU cost worth seeing.
    for w, t0, s0 in zip(workers, threads0, stat0, strict=True):
        t1 = thread_cpu_s(w.pid)
        busy = sorted(((t1[k] - t0.get(k, 0.0), k) for k in t1), reverse=True)[:6]
        s1 = proc_stat(Path(f"/proc/{w.pid}/stat"))
        print(
            f"  {w.name} CPU by thread: "
            + ", ".join(f"{k} {v:.2f}s" for v, k in busy)
            + f"; system {s1.system_s - s0.system_s:.2f}s, {s1.minor_faults - s0.minor_faults:,} page faults",
            flush=True,
        )
    for spy in spies:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    consumer.close()
    return cpu, wall
