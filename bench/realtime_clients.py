"""The load generator of ``bench/realtime.py``: WebSocket clients in a process of their own.

Each receiver process runs uvloop and a few hundred stream clients that do nothing but read:
the sans-I/O protocol of ``websockets`` on a plain asyncio protocol, so a frame costs a parse
and a ``json.loads``, not a task switch. The receipt time is ``time.time()`` taken when the
bytes are handed to the process (``data_received``), before any parsing; ``time.time()`` is
the one clock the API processes, Redis and the bench share on this machine.

The receiver says over its pipe when all its clients are connected and when all of them have
an event; at the end it sends every receipt time, by event id.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import cast

import uvloop
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri


@dataclass
class Tally:
    """Receipt times of every event, and the pipe to tell the bench when one is complete."""

    clients: int
    pipe: Connection
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def arrived(self, event_id: str, kind: str, at: float) -> None:
        times = self.arrivals.setdefault(event_id, [])
        times.append(at)
        self.types[event_id] = kind
        if len(times) == self.clients:
            self.pipe.send(("all", event_id, kind))


class Reader(asyncio.Protocol):
    """One stream client: handshake, then every event frame is timed and counted."""

    def __init__(self, url: str, token: str, deflate: bool, tally: Tally) -> None:
        self.ws = ClientProtocol(
            parse_uri(url),
            subprotocols=[
                Subprotocol("ticketcreator"),
                Subprotocol(f"ticketcreator.bearer.{token}"),
            ],
            # What browsers offer; the server decides whether to compress.
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
        )
        self.tally = tally
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.handshake_exc is not None and not self.ready.done():
                    self.ready.set_exception(self.ws.handshake_exc)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                body = json.loads(event.data)
                kind = body["type"]
                if kind == "stream.ready" and not self.ready.done():
                    self.ready.set_result(bool(self.ws.extensions))
                elif not kind.startswith("stream."):
                    self.tally.arrived(body["id"], kind, now)
        self._flush()  # pongs and the closing handshake

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before stream.ready"))

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)


def receive(ports: list[int], tokens: list[str], deflate: bool, pipe: Connection) -> None:
    """The body of one receiver process: one client per token (each a member of its own)."""
    uvloop.run(_receive(ports, tokens, deflate, pipe))


async def _receive(ports: list[int], tokens: list[str], deflate: bool, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally(len(tokens), pipe)
    gate = asyncio.Semaphore(25)  # connections being opened at once

    async def open_one(i: int) -> Reader:
        port = ports[i % len(ports)]
        url = f"ws://127.0.0.1:{port}/v1/stream"
        async with gate:
            _, reader = await loop.create_connection(
                lambda: Reader(url, tokens[i], deflate, tally), "127.0.0.1", port
            )
            await asyncio.wait_for(reader.ready, 60)
        return reader

    readers = await asyncio.gather(*(open_one(i) for i in range(len(tokens))))
    pipe.send(("connected", sum(r.ready.result() for r in readers)))
    await asyncio.to_thread(pipe.recv)  # the bench's only command: stop
    for reader in readers:
        assert reader.transport is not None
        reader.transport.close()
    pipe.send(("arrivals", tally.arrivals, tally.types))
