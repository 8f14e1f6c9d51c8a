"""Context survives thread pools (ContextThreadPoolExecutor, run_in_context) and asyncio tasks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import baggage, context

from pipeline.adapters.otel.context_executor import ContextThreadPoolExecutor, run_in_context


def _child(tracing, name: str) -> None:
    with tracing.tracer.start_as_current_span(name):
        pass


def test_context_pool_parents_task_spans_to_the_submitter(tracing) -> None:
    """Spans started in ContextThreadPoolExecutor tasks are children of the submitting span."""
    with ContextThreadPoolExecutor(max_workers=2) as pool, tracing.tracer.start_as_current_span("request"):
        for f in [pool.submit(_child, tracing, f"task-{i}") for i in range(4)]:
            f.result()
    request = tracing.named("request")
    for i in range(4):
        task = tracing.named(f"task-{i}")
        assert task.parent is not None and task.parent.span_id == request.context.span_id


def test_plain_pool_loses_the_context(tracing) -> None:
    """The pitfall, shown: a plain ThreadPoolExecutor task starts a new trace."""
    with ThreadPoolExecutor(max_workers=1) as pool, tracing.tracer.start_as_current_span("request"):
        pool.submit(_child, tracing, "task").result()
    assert tracing.named("task").parent is None
    assert tracing.named("task").context.trace_id != tracing.named("request").context.trace_id


def test_run_in_context_carries_baggage_into_a_foreign_pool() -> None:
    """A function wrapped by run_in_context sees the wrapper's baggage, even run twice at once."""
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        wrapped = run_in_context(lambda: baggage.get_baggage("tenant"))
    finally:
        context.detach(token)
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert [f.result() for f in [pool.submit(wrapped) for _ in range(4)]] == ["acme"] * 4


def test_asyncio_tasks_keep_the_context(tracing) -> None:
    """Spans in tasks created with asyncio.create_task/gather are children of the creating span."""

    async def work(i: int) -> None:
        await asyncio.sleep(0)
        _child(tracing, f"async-{i}")

    async def main() -> None:
        with tracing.tracer.start_as_current_span("request"):
            await asyncio.gather(*(asyncio.create_task(work(i)) for i in range(3)))

    asyncio.run(main())
    request = tracing.named("request")
    assert all(tracing.named(f"async-{i}").parent.span_id == request.context.span_id for i in range(3))
