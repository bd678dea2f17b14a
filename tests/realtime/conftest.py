"""A real API server for stream tests: uvicorn on a free port, in the test's event loop (so
coverage and the route gate see it), and WebSocket clients from the ``websockets`` package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.support.factories import Member
from tests.support.local_server import serving


@dataclass
class ApiServer:
    port: int

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def api_server(
    app: Any, database: str, request: pytest.FixtureRequest
) -> AsyncIterator[ApiServer]:
    recorder = request.config.pluginmanager.get_plugin("route-recorder")
    async with serving(recorder.wrap(app)) as port:
        yield ApiServer(port)


@dataclass
class Watcher:
    """A stream client that keeps every frame it receives."""

    connection: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if not str(f["type"]).startswith("stream.")]

    async def next(self, timeout: float = 30.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 180.0) -> dict[str, Any]:
        """Read frames until one matches ``predicate``; returns it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no matching frame; got {[f['type'] for f in self.frames]}"
            frame = await self.next(remaining)
            if predicate(frame):
                return frame

    async def drain(self, quiet: float = 1.0) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        try:
            while True:
                await self.next(quiet)
        except TimeoutError:
            return

    async def close(self) -> None:
        await self.connection.close()


async def watch(
    server: ApiServer, member: Member, query: str = "", *, how: str = "protocol"
) -> Watcher:
    """Connect as ``member``: through the subprotocol header (default), the first message,
    or the Authorization header; waits for ``stream.ready``."""
    url = server.ws + (f"?{query}" if query else "")
    if how == "protocol":
        connection = await connect(
            url,
            subprotocols=[
                Subprotocol("ticketcreator"),
                Subprotocol(f"ticketcreator.bearer.{member.token}"),
            ],
        )
    elif how == "header":
        connection = await connect(url, additional_headers=member.headers)
    else:
        connection = await connect(url)
        await connection.send(json.dumps({"type": "auth", "token": member.token}))
    watcher = Watcher(connection)
    watcher.ready = await watcher.next()
    assert watcher.ready["type"] == "stream.ready", watcher.ready
    return watcher
