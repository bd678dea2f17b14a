"""Waiting in tests for work done elsewhere (the worker, a fake vendor, the stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_for[T](
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = 90.0,
    what: str = "the condition",
    interval: float = 0.2,
) -> T:
    """The first truthy result of ``probe``, polled every ``interval`` seconds; fails the test
    after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
