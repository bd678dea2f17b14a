"""Fan-out inside one API process: a slow client is dropped, the others go on; events
published straight to Redis (as the worker does) reach the connections that may see them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.factories import Member, create_member
from tests.support.services import RedisServer
from tests.support.settings import overridden
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.realtime import bus
from ticketcreator.realtime.events import Access

from .conftest import ApiServer, watch


@pytest.fixture
def small_queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with overridden(monkeypatch, TC_REALTIME__QUEUE_SIZE="5", TC_REALTIME__SEND_TIMEOUT_S="1"):
        yield


async def connect_not_reading(api_server: ApiServer, member: Member) -> ClientConnection:
    """A stream client that buffers one message at most: it stops reading when the test does."""
    return await connect(
        api_server.ws,
        subprotocols=[
            Subprotocol("ticketcreator"),
            Subprotocol(f"ticketcreator.bearer.{member.token}"),
        ],
        compression=None,
        max_queue=1,
    )


def _event(organization_id: uuid.UUID, n: int, size: int) -> str:
    return json.dumps(
        {
            "type": "ticket.updated",
            "organization_id": str(organization_id),
            "ticket_id": None,
            "occurred_at": "2026-12-03T00:00:00+00:00",
            "data": {"n": n, "filler": uuid.uuid4().hex * (size // 32)},
        }
    )


async def test_a_client_that_does_not_read_is_dropped_and_the_others_get_everything(
    session: AsyncSession, api_server: ApiServer, small_queues: None
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    access = Access(organization_id=agent.org_id, permission=Permission.TICKETS_READ)
    fast = await watch(api_server, agent)
    slow = await connect_not_reading(api_server, agent)
    assert json.loads(await slow.recv())["type"] == "stream.ready"  # then it stops reading
    hub = bus.hub()
    assert hub.size == 2
    count = 300

    async def read_all() -> list[int]:
        got: list[int] = []
        while len(got) < count:
            frame = await fast.next(30)
            if frame["type"] == "ticket.updated":
                got.append(frame["data"]["n"])
        return got

    reader = asyncio.create_task(read_all())
    for n in range(count):
        await bus.publish(access, _event(agent.org_id, n, 32_000))
        await asyncio.sleep(0.003)
    assert await asyncio.wait_for(reader, 60) == list(range(count))
    # The slow client was dropped from the fan-out; the fast one is still in it.
    assert hub.size == 1

    async def read_until_closed() -> None:
        while True:
            await asyncio.wait_for(slow.recv(), 30)

    with pytest.raises(ConnectionClosed):
        await read_until_closed()
    await fast.close()


async def test_a_client_that_stops_taking_frames_is_ended_before_its_queue_fills(
    session: AsyncSession, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    access = Access(organization_id=agent.org_id, permission=Permission.TICKETS_READ)
    with overridden(monkeypatch, TC_REALTIME__QUEUE_SIZE="1000", TC_REALTIME__SEND_TIMEOUT_S="1"):
        stuck = await connect_not_reading(api_server, agent)
        assert json.loads(await stuck.recv())["type"] == "stream.ready"  # then it stops reading
        hub = bus.hub()
        [listener] = hub.listeners[agent.org_id]
        # 400 events of 64 KiB fill the socket buffers; fewer than the queue holds.
        for n in range(400):
            await bus.publish(access, _event(agent.org_id, n, 64_000))
        for _ in range(100):  # the hub's clock ends the send stuck for over a second
            if hub.size == 0:
                break
            await asyncio.sleep(0.1)
        assert hub.size == 0
        assert listener.stalled
        assert not listener.overflowed
    stuck.transport.abort()


async def test_the_hub_resyncs_its_clients_after_redis_comes_back(
    session: AsyncSession, api_server: ApiServer, redis_server: RedisServer
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    access = Access(organization_id=agent.org_id, permission=Permission.TICKETS_READ)
    socket = await watch(api_server, agent)
    await bus.publish(access, _event(agent.org_id, 1, 64))
    first = await socket.until(lambda f: f["type"] == "ticket.updated")
    redis_server.stop()
    redis_server.start()  # an empty Redis: the stream is gone, so the client must reload
    await socket.until(lambda f: f["type"] == "stream.reset", timeout=30)
    await bus.publish(access, _event(agent.org_id, 2, 64))
    second = await socket.until(lambda f: f["type"] == "ticket.updated", timeout=30)
    assert second["data"]["n"] == 2
    assert first["id"] != second["id"]
    await socket.close()


def test_a_full_listener_is_removed_from_the_fan_out() -> None:
    async def scenario() -> None:
        hub = bus.Hub()
        organization = uuid.uuid4()
        listener = bus.Listener(organization, lambda access: True, size=2)
        hub.listeners[organization] = {listener}
        access = Access(organization_id=organization, permission=Permission.TICKETS_READ)
        raw = f'{bus.stream_key(organization)}\n1-0\n{access.to_json()}\n{{"type":"t"}}'
        hub.dispatch(raw)
        hub.dispatch(raw.replace("\n1-0\n", "\n2-0\n"))
        assert not listener.overflowed
        hub.dispatch(raw.replace("\n1-0\n", "\n3-0\n"))
        assert listener.overflowed
        assert hub.listeners == {}
        hub.dispatch(raw)  # nobody listens any more: nothing happens

    asyncio.run(scenario())


def test_the_hub_clock_asks_idle_listeners_for_heartbeats_and_ends_stalled_sends() -> None:
    async def scenario() -> None:
        hub = bus.Hub()
        organization = uuid.uuid4()
        idle = bus.Listener(organization, lambda access: True, size=10)
        stuck = bus.Listener(organization, lambda access: True, size=10)
        sender = asyncio.create_task(asyncio.sleep(3600))
        stuck.consumer = sender
        hub.listeners[organization] = {idle, stuck}
        now = time.monotonic()
        stuck.handing()
        hub.tick(now + 1)  # heartbeat 15 s and send timeout 10 s (the defaults): nothing due
        assert not idle.heartbeat_due
        assert idle.queue.empty()
        assert not stuck.stalled
        assert not sender.done()
        hub.tick(now + 15.5)
        assert idle.heartbeat_due
        assert idle.queue.get_nowait() is None
        assert stuck.stalled
        assert not stuck.heartbeat_due
        await asyncio.sleep(0)
        assert sender.cancelled()
        hub.tick(now + 16)  # one heartbeat asked at a time
        assert idle.queue.empty()
        idle.heartbeat_due = False
        idle.taken()
        hub.tick(time.monotonic() + 1)
        assert not idle.heartbeat_due

    asyncio.run(scenario())
