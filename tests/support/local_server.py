"""An ASGI app served by uvicorn on a free port, inside the test's event loop (so coverage
and the route gate see what it runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import Receive, Scope

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


async def read_request(scope: Scope, receive: Receive) -> tuple[dict[str, str], bytes]:
    """The headers (lower-case names) and the whole body of an HTTP request to a fake."""
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body
