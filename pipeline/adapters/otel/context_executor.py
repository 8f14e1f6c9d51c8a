"""A thread pool whose tasks run in the submitter's context.

`concurrent.futures.ThreadPoolExecutor` runs every task in its worker thread's own (empty)
contextvars context, so a span started in a task loses its parent: the "lost context in a
thread pool" pitfall. `ContextThreadPoolExecutor.submit` copies the caller's contextvars (which
hold OpenTelemetry's current context, baggage included) and runs the task inside that copy.

Why not only `opentelemetry-instrumentation-threading`: its `ThreadingInstrumentor().instrument()`
does the same by patching `ThreadPoolExecutor.submit` and `Thread.run` process-wide. That is the
right tool for third-party code that creates its own pools (call it once at start-up); this class
is explicit, needs no global patch, and carries every contextvar, not only OpenTelemetry's.
asyncio needs neither: `asyncio.create_task` already copies the current context into the task.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` whose `submit` (and so `map`) runs tasks in the caller's context."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        # One copy per task: tasks may attach/detach spans without disturbing each other.
        ctx = contextvars.copy_context()

        def task() -> R:
            return ctx.run(fn, *args, **kwargs)

        return super().submit(task)


def run_in_context(fn: Callable[..., R]) -> Callable[..., R]:
    """Wraps `fn` so that it runs in the context current *now*, for executors you cannot replace.

    Example: `loop.run_in_executor(pool, run_in_context(work))`.
    """
    ctx = contextvars.copy_context()

    def bound(*args: Any, **kwargs: Any) -> R:
        # A fresh copy per call: one Context object cannot be entered by two threads at once.
        return ctx.copy().run(fn, *args, **kwargs)

    return bound
