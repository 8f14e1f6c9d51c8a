"""Waiting on a condition in async tests: poll until it holds or a generous deadline passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_until(
    check: Callable[[], Awaitable[Any]],
    what: str,
    timeout: float,
    *,
    interval: float = 0.25,
    context: Callable[[], str] | None = None,
) -> Any:
    """Await `check()` until it returns something truthy, and return that.

    Raises:
        AssertionError: `timeout` passed; the message names `what` and adds `context()` (e.g. a log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval)
    extra = f"\n{context()}" if context is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
