"""Redis as the stream's backbone: one stream per organization for resuming, one pub/sub
channel for live fan-out to every API process.

Publishing runs one Lua script, so appending to the organization's stream (``XADD``, trimmed
to the retention window and a length cap) and announcing the entry on the channel
(``PUBLISH``) happen together and in id order. Every API process subscribes to the channel
once (:class:`Hub`) and hands each event to its own connections of that organization; a
connection resuming after a reconnect reads what it missed from the stream (:func:`replay`).

One channel for all organizations keeps each process's subscription fixed (no subscribe
churn as clients come and go); every process sees every event, which costs a dictionary
lookup for organizations it has no client of.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from ticketcreator.core.config import get_settings
from ticketcreator.realtime.events import Access, with_id

log = logging.getLogger(__name__)

STREAM_PREFIX = "tc:rt:stream:"
CHANNEL = "tc:rt:live"

# KEYS: stream, channel. ARGV: access, event, retention ms, max length.
_PUBLISH = """
local now = redis.call('TIME')
local min_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
local id = redis.call('XADD', KEYS[1], 'MINID', '~', string.format('%d', min_ms), '*',
                      'a', ARGV[1], 'e', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], KEYS[1] .. '\\n' .. id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return id
"""


def stream_key(organization_id: uuid.UUID) -> str:
    return f"{STREAM_PREFIX}{organization_id}"


def parse_id(stream_id: str) -> tuple[int, int]:
    """A stream id ``<ms>-<seq>`` as a comparable pair; ValueError when malformed."""
    ms, _, seq = stream_id.partition("-")
    pair = (int(ms), int(seq or 0))
    if pair[0] < 0 or pair[1] < 0:
        raise ValueError(stream_id)
    return pair


_clients: dict[tuple[int, int], aioredis.Redis] = {}


def client() -> aioredis.Redis:
    """A Redis client for this process and event loop."""
    key = (os.getpid(), id(asyncio.get_running_loop()))
    found = _clients.get(key)
    if found is None:
        cfg = get_settings().redis
        found = _clients[key] = aioredis.Redis.from_url(
            cfg.url,
            socket_timeout=cfg.socket_timeout_s,
            socket_connect_timeout=cfg.socket_timeout_s,
            decode_responses=True,
            # A connection from before a Redis restart fails once; the retry takes a new one.
            retry=Retry(ExponentialBackoff(cap=1.0), 3),
            retry_on_error=[RedisConnectionError],
        )
    return found


async def publish(access: Access, event: str) -> str:
    """Append the event to its organization's stream and announce it; returns its id."""
    cfg = get_settings().realtime
    redis = client()
    stream_id = await redis.eval(
        _PUBLISH,
        2,
        stream_key(access.organization_id),
        CHANNEL,
        access.to_json(),
        event,
        cfg.retention_s * 1000,
        cfg.max_stream_length,
    )
    return str(stream_id)


@dataclass(frozen=True)
class Entry:
    """One event as read from Redis, prepared once for all the connections that get it."""

    id: str
    key: tuple[int, int]  # the id, comparable (:func:`parse_id`)
    access: Access
    type: str
    body: str  # the event as sent: JSON with its id first

    @classmethod
    def of(cls, stream_id: str, access_json: str, event: str) -> Entry:
        return cls(
            stream_id,
            parse_id(stream_id),
            Access.from_json(access_json),
            json.loads(event)["type"],
            with_id(stream_id, event),
        )


class Gap(Exception):
    """Events after the client's last id are no longer kept: the client must reload."""


async def replay(organization_id: uuid.UUID, after: str) -> AsyncIterator[Entry]:
    """The organization's events after ``after``, oldest first; :class:`Gap` when some of
    them were already trimmed (or the stream is gone)."""
    redis = client()
    key = stream_key(organization_id)
    try:
        info = await redis.xinfo_stream(key)
    except ResponseError:  # no such key: nothing kept, so nothing can be resumed
        if parse_id(after) == (0, 0):
            return  # the client saw no event yet, and none happened since
        raise Gap("no events are kept for this organization") from None
    deleted = info.get("max-deleted-entry-id") or "0-0"
    if parse_id(after) < parse_id(deleted):
        raise Gap("events after this id are past the retention window")
    page = get_settings().realtime.replay_page
    cursor = after
    while True:
        rows: list[tuple[str, dict[str, str]]] = await redis.xrange(
            key, min=f"({cursor}", max="+", count=page
        )  # type: ignore[assignment]
        for stream_id, fields in rows:
            yield Entry.of(stream_id, fields["a"], fields["e"])
        if len(rows) < page:
            return
        cursor = rows[-1][0]


async def latest_id(organization_id: uuid.UUID) -> str:
    """The id of the organization's newest event ("0-0" when none is kept)."""
    rows = await client().xrevrange(stream_key(organization_id), count=1)
    return str(rows[0][0]) if rows else "0-0"


class Listener:
    """One connection's inbox: a bounded queue the hub fills and the connection drains.

    The hub never waits for a connection: when the queue is full the listener is marked
    ``overflowed`` and dropped from the fan-out, and the connection closes itself. The hub's
    clock (:meth:`Hub.tick`) also asks for a heartbeat when the connection has sent nothing
    for ``heartbeat_s``, and marks it ``stalled`` (cancelling the task that sends to it) when
    a frame has waited ``send_timeout_s`` for the client to take it. One clock per process,
    rather than a timer per frame, keeps the cost of each event to a queue put and a send.
    """

    def __init__(
        self, organization_id: uuid.UUID, accepts: Callable[[Access], bool], size: int
    ) -> None:
        self.organization_id = organization_id
        self.accepts = accepts
        self.queue: asyncio.Queue[Entry | None] = asyncio.Queue(maxsize=size)
        self.overflowed = False
        self.resync = False  # the hub lost Redis for a while: read the stream to catch up
        self.heartbeat_due = False
        self.stalled = False
        self.consumer: asyncio.Task[Any] | None = None  # the task sending the frames
        self.idle_since = time.monotonic()  # when the connection last took a frame
        self.handed_at: float | None = None  # when a frame was handed over and not yet taken

    def offer(self, entry: Entry) -> bool:
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True

    def wake(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def drop(self) -> None:
        """Out of the fan-out (too far behind): wake the connection to end, or end the send
        it is stuck in."""
        if self.handed_at is not None and self.consumer is not None:
            self.stalled = True
            self.consumer.cancel()
        else:
            self.wake()

    def handing(self) -> None:
        """A frame goes to the client now."""
        self.handed_at = time.monotonic()

    def taken(self) -> None:
        """The client took it."""
        self.handed_at = None
        self.idle_since = time.monotonic()

    def check(self, now: float, heartbeat_s: float, send_timeout_s: float) -> None:
        handed_at = self.handed_at
        if handed_at is not None:
            if now - handed_at > send_timeout_s and not self.stalled:
                self.stalled = True
                if self.consumer is not None:
                    self.consumer.cancel()
        elif now - self.idle_since >= heartbeat_s and not self.heartbeat_due:
            self.heartbeat_due = True
            self.wake()


class Hub:
    """The fan-out of one API process: one pub/sub subscription, many listeners.

    Started by the first listener and stopped after the last one leaves, on the event loop
    that serves the connections.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.listeners: dict[uuid.UUID, set[Listener]] = {}
        self._task: asyncio.Task[None] | None = None
        self._clock: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def size(self) -> int:
        return sum(len(group) for group in self.listeners.values())

    async def add(self, listener: Listener) -> None:
        self.listeners.setdefault(listener.organization_id, set()).add(listener)
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name="realtime-hub")
            self._clock = asyncio.create_task(self._keep_time(), name="realtime-hub-clock")
        await self._ready.wait()

    def remove(self, listener: Listener) -> None:
        group = self.listeners.get(listener.organization_id)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.listeners[listener.organization_id]
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None
            if self._clock is not None:
                self._clock.cancel()
                self._clock = None

    async def _keep_time(self) -> None:
        cfg = get_settings().realtime
        period = min(1.0, cfg.heartbeat_s / 4, cfg.send_timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        """Heartbeats due and stalled sends, for every listener (see :class:`Listener`)."""
        cfg = get_settings().realtime
        for group in self.listeners.values():
            for listener in group:
                listener.check(now, cfg.heartbeat_s, cfg.send_timeout_s)

    async def _run(self) -> None:
        cfg = get_settings().redis
        lost = False
        while True:
            connection = aioredis.Redis.from_url(
                cfg.url,
                socket_connect_timeout=cfg.socket_timeout_s,
                decode_responses=True,
                health_check_interval=30,
            )
            pubsub = connection.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                if lost:
                    self._resync_all()
                    lost = False
                self._ready.set()
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message["type"] == "message":
                        self.dispatch(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("realtime hub lost Redis; reconnecting", extra={"error": str(exc)})
                lost = True
                self._ready.set()  # listeners go on (heartbeats); they resync on reconnect
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await connection.aclose()

    def _resync_all(self) -> None:
        for group in self.listeners.values():
            for listener in group:
                listener.resync = True
                listener.wake()

    def dispatch(self, raw: str) -> None:
        """Hand one announced event to the listeners of its organization that may see it."""
        key, stream_id, access_json, event = raw.split("\n", 3)
        group = self.listeners.get(uuid.UUID(key.removeprefix(STREAM_PREFIX)))
        if not group:
            return
        entry = Entry.of(stream_id, access_json, event)
        for listener in list(group):
            if listener.accepts(entry.access) and not listener.offer(entry):
                self.remove(listener)
                listener.drop()


class OfLoop(Protocol):
    loop: asyncio.AbstractEventLoop


def of_this_loop[T: OfLoop](registry: dict[tuple[int, int], T], make: Callable[[], T]) -> T:
    """The object of ``registry`` made for this process and running event loop."""
    loop = asyncio.get_running_loop()
    key = (os.getpid(), id(loop))
    found = registry.get(key)
    if found is None or found.loop is not loop:
        found = registry[key] = make()
    return found


_hubs: dict[tuple[int, int], Hub] = {}


def hub() -> Hub:
    """The hub of this process and event loop."""
    return of_this_loop(_hubs, Hub)
