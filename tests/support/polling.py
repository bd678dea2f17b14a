"""Waiting in tests for work done elsewhere (the worker, a fake vendor, the stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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


async def waiting_on_a_lock(session: AsyncSession) -> bool | None:
    """True once a connection to the test database waits on a lock (a probe for
    :func:`wait_for`). Each look commits, so that the next one sees the activity afresh."""
    waiting = await session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )
    await session.commit()
    return True if waiting else None
