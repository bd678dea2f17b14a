"""Running async services from Celery tasks.

Each worker process keeps one event loop for its whole life (created lazily in the child
after fork), so the async engine's pooled connections always belong to the loop that uses
them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loops: dict[int, asyncio.AbstractEventLoop] = {}


def run_async[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this process's long-lived event loop."""
    pid = os.getpid()
    loop = _loops.get(pid)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _loops[pid] = loop
    return loop.run_until_complete(coro)
