"""An ASGI app served by uvicorn on a free port, inside the test's event loop (so coverage
and the route gate see what it runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.support.services import free_port


@asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1 (on ``port``, or a free one); yields the port."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
