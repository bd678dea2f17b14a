"""The real-time stream, as clients use it: WebSocket and SSE clients of two organizations
and every role connect to a real server while tickets change through the API; the worker
publishes through Redis. Each event arrives where it may, and nowhere else."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from tests.support.settings import overridden
from tests.support.statements import statements_matching
from ticketcreator.accounts.auth import principals
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.core.db import session_factory
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
from ticketcreator.realtime import bus
from ticketcreator.realtime.events import STREAMED, Access

from .conftest import ApiServer, Watcher, watch

HANDLER = "ticketcreator.realtime.tasks.stream_event"


async def streamed(session: AsyncSession, *organization_ids: uuid.UUID) -> bool:
    """Whether the worker has offered every streamed event of these organizations to the
    stream (each one, not a count that other tests' events could balance)."""
    done = exists().where(
        ProcessedEvent.event_id == OutboxEvent.id,
        ProcessedEvent.handler == HANDLER,
        ProcessedEvent.state == "done",
    )
    ours = (OutboxEvent.topic.in_(STREAMED), OutboxEvent.organization_id.in_(organization_ids))
    total = await session.scalar(select(func.count()).select_from(OutboxEvent).where(*ours))
    waiting = await session.scalar(
        select(func.count()).select_from(OutboxEvent).where(*ours, ~done)
    )
    session.expire_all()
    await session.commit()
    return bool(total) and waiting == 0


async def create_ticket(client: httpx.AsyncClient, member: Member, title: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/tickets", headers=member.headers, json={"title": title, "description": title}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def comment(
    client: httpx.AsyncClient, member: Member, ticket: dict[str, Any], *, internal: bool
) -> str:
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/comments",
        headers=member.headers,
        json={"body": "internal note" if internal else "public reply", "internal": internal},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def seen(watcher: Watcher) -> set[tuple[str, str | None]]:
    return {(e["type"], e["ticket_id"]) for e in watcher.events}


def changed(watcher: Watcher) -> set[tuple[str, str | None, str | None, str | None]]:
    """The changes ``ticket.updated`` events carried: (field, ticket, old, new)."""
    return {
        (change["field"], e["ticket_id"], change["old"], change["new"])
        for e in watcher.events
        if e["type"] == "ticket.updated"
        for change in e["data"]["changes"]
    }


async def test_every_event_reaches_who_may_read_it_and_nobody_else(
    client: httpx.AsyncClient, session: AsyncSession, api_server: ApiServer, celery_worker: Worker
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    org = owner.organization
    agent = await create_member(session, org, Role.AGENT)
    agent_id = str(agent.user.id)
    viewer = await create_member(session, org, Role.VIEWER)
    reporter = await create_member(session, org, Role.REPORTER)
    other_reporter = await create_member(session, org, Role.REPORTER)
    stranger = await create_member(session, role=Role.OWNER)  # another organization
    org_id, stranger_org_id = str(org.id), str(stranger.org_id)

    sockets = {
        "owner": await watch(api_server, owner),
        "agent_mine": await watch(api_server, agent, "scope=mine", how="message"),
        "viewer": await watch(api_server, viewer, how="header"),
        "reporter": await watch(api_server, reporter),
        "other_reporter": await watch(api_server, other_reporter, how="message"),
        "stranger": await watch(api_server, stranger),
    }
    try:
        mine = await create_ticket(client, reporter, "Reporter's own ticket")
        theirs = await create_ticket(client, agent, "Agent's ticket")
        ticket_socket = await watch(api_server, viewer, f"scope=ticket&ticket={mine['key']}")
        assigned = await client.put(
            f"/v1/tickets/{mine['id']}/assignee",
            headers=agent.headers,
            json={"assignee_id": agent_id},
        )
        assert assigned.status_code == 200, assigned.text
        internal_id = await comment(client, agent, mine, internal=True)
        public_id = await comment(client, agent, mine, internal=False)
        moved = await client.patch(
            f"/v1/tickets/{mine['id']}", headers=agent.headers, json={"status": "in_progress"}
        )
        assert moved.status_code == 200, moved.text
        # The last events: one each for the other reporter and the other organization.
        last_other = await create_ticket(client, other_reporter, "Other reporter's ticket")
        last_stranger = await create_ticket(client, stranger, "Elsewhere")
        await wait_for(lambda: streamed(session, uuid.UUID(org_id), uuid.UUID(stranger_org_id)))
        for socket in [*sockets.values(), ticket_socket]:
            await socket.drain(1.5)
    finally:
        for socket in sockets.values():
            await socket.close()

    mine_id, theirs_id = mine["id"], theirs["id"]
    everything_in_a = {
        ("ticket.created", mine_id),
        ("ticket.created", theirs_id),
        ("ticket.commented", mine_id),
        ("ticket.created", last_other["id"]),
    }
    # One event per change: the assignment and the status change are ticket.updated's changes.
    changes_in_a = {
        ("assignee_id", mine_id, None, agent_id),
        ("status", mine_id, "open", "in_progress"),
    }
    assert everything_in_a <= seen(sockets["owner"])
    assert everything_in_a <= seen(sockets["viewer"])
    assert changes_in_a <= changed(sockets["owner"])
    assert changes_in_a <= changed(sockets["viewer"])
    for name in ("owner", "viewer", "agent_mine", "reporter", "other_reporter", "stranger"):
        events = sockets[name].events
        # Tenant: nothing of the other organization, ever.
        expected_org = stranger_org_id if name == "stranger" else org_id
        assert {e["organization_id"] for e in events} <= {expected_org}, name
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids)), f"{name} got an event twice"
        assert not {e["type"] for e in events} & {"ticket.status_changed", "ticket.assigned"}
    assert seen(sockets["stranger"]) >= {("ticket.created", last_stranger["id"])}

    comments = {
        name: {e["data"]["comment_id"] for e in s.events if e["type"] == "ticket.commented"}
        for name, s in sockets.items()
    }
    # Internal notes: agents and owners yes; viewers (no `comments:internal`) and reporters no.
    assert comments["owner"] == {internal_id, public_id}
    assert comments["agent_mine"] == {internal_id, public_id}
    assert comments["viewer"] == {public_id}
    assert comments["reporter"] == {public_id}
    # Reporters see only their own tickets.
    assert {e["ticket_id"] for e in sockets["reporter"].events} == {mine_id}
    assert {e["ticket_id"] for e in sockets["other_reporter"].events} == {last_other["id"]}
    # "mine": the ticket the agent reported and the one assigned to it, nothing else.
    agent_tickets = {e["ticket_id"] for e in sockets["agent_mine"].events}
    assert agent_tickets == {mine_id, theirs_id}
    assert ("assignee_id", mine_id, None, agent_id) in changed(sockets["agent_mine"])
    # One ticket: only that ticket's events (it was subscribed after its creation).
    assert {e["ticket_id"] for e in ticket_socket.events} == {mine_id}
    assert ("status", mine_id, "open", "in_progress") in changed(ticket_socket)
    await ticket_socket.close()


async def test_the_assignee_a_ticket_is_taken_from_hears_of_it(
    client: httpx.AsyncClient, session: AsyncSession, api_server: ApiServer, celery_worker: Worker
) -> None:
    """ "My tickets": the change that takes a ticket away from its assignee still reaches them
    (it is the last thing they hear of it), as one ``ticket.updated``."""
    owner = await create_member(session, role=Role.OWNER)
    agent = await create_member(session, owner.organization, Role.AGENT)
    agent_id = str(agent.user.id)
    ticket = await create_ticket(client, owner, "Passed around")
    socket = await watch(api_server, agent, "scope=mine")
    url = f"/v1/tickets/{ticket['id']}/assignee"
    given = await client.put(url, headers=owner.headers, json={"assignee_id": agent_id})
    assert given.status_code == 200, given.text
    await socket.until(lambda f: f["type"] == "ticket.updated")
    taken = await client.delete(url, headers=owner.headers)
    assert taken.status_code == 200, taken.text
    last = await socket.until(
        lambda f: f["type"] == "ticket.updated" and f["data"]["changes"][0]["new"] is None
    )
    assert last["data"]["changes"] == [{"field": "assignee_id", "old": agent_id, "new": None}]
    await socket.drain(1.0)
    assert not {f["type"] for f in socket.frames} & {"ticket.assigned", "ticket.status_changed"}
    await socket.close()


async def test_a_reconnecting_client_misses_nothing(
    client: httpx.AsyncClient, session: AsyncSession, api_server: ApiServer, celery_worker: Worker
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    org_id = agent.org_id
    socket = await watch(api_server, agent)
    ticket = await create_ticket(client, agent, "Resume me")
    first = await socket.until(lambda f: f["type"] == "ticket.created")
    await socket.close()

    for title in ("First rename", "Second rename", "Third rename"):
        changed = await client.patch(
            f"/v1/tickets/{ticket['id']}", headers=agent.headers, json={"title": title}
        )
        assert changed.status_code == 200
    await wait_for(lambda: streamed(session, org_id))

    resumed = await watch(api_server, agent, f"last_event_id={first['id']}")
    assert resumed.ready["last_event_id"] == first["id"]
    await resumed.drain(1.0)
    titles = [
        change["new"]
        for event in resumed.events
        if event["type"] == "ticket.updated"
        for change in event["data"]["changes"]
        if change["field"] == "title"
    ]
    assert titles == ["First rename", "Second rename", "Third rename"], (first, resumed.frames)
    ids = [event["id"] for event in resumed.events]
    assert first["id"] not in ids
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))
    await resumed.close()

    # Server-Sent Events resume the same way, from Last-Event-ID.
    async with (
        httpx.AsyncClient(base_url=api_server.http, timeout=30) as http,
        http.stream(
            "GET",
            "/v1/stream",
            headers={**agent.headers, "Last-Event-ID": first["id"]},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        sse_titles: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"ticket.updated"' in line:
                data = json.loads(line.removeprefix("data: "))
                sse_titles += [c["new"] for c in data["data"]["changes"] if c["field"] == "title"]
                if len(sse_titles) == 3:
                    break
    assert sse_titles == ["First rename", "Second rename", "Third rename"]


async def test_refused_connections_say_why(
    client: httpx.AsyncClient, session: AsyncSession, api_server: ApiServer
) -> None:
    reporter = await create_member(session, role=Role.REPORTER)
    agent = await create_member(session, role=Role.AGENT)  # another organization
    foreign = await create_ticket(client, agent, "Not yours")

    async def close_code(url: str, **kwargs: Any) -> int:
        async with connect(url, **kwargs) as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(connection.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert (
        await close_code(api_server.ws, additional_headers={"Authorization": "Bearer nope"}) == 4401
    )
    # A ticket of another organization is "not found", like over HTTP.
    url = f"{api_server.ws}?scope=ticket&ticket={foreign['id']}"
    assert await close_code(url, additional_headers=reporter.headers) == 4404
    assert (
        await close_code(f"{api_server.ws}?last_event_id=bad", additional_headers=reporter.headers)
        == 4400
    )
    assert (
        await close_code(f"{api_server.ws}?ticket=T-1", additional_headers=reporter.headers) == 4400
    )

    async with connect(api_server.ws) as silent:  # says nothing: no auth message in time
        await silent.send(json.dumps({"type": "hello"}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401

    sse = await client.get(
        "/v1/stream", params={"scope": "ticket", "ticket": foreign["id"]}, headers=reporter.headers
    )
    assert sse.status_code == 404
    assert sse.headers["content-type"] == "application/problem+json"
    anonymous = await client.get("/v1/stream")
    assert anonymous.status_code == 401


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def test_upload_and_media_progress_reach_the_uploader_and_the_team_only(
    client: httpx.AsyncClient, session: AsyncSession, api_server: ApiServer, celery_worker: Worker
) -> None:
    reporter = await create_member(session, role=Role.REPORTER)
    org = reporter.organization
    org_id = org.id
    admin = await create_member(session, org, Role.ADMIN)
    other_reporter = await create_member(session, org, Role.REPORTER)
    sockets = [await watch(api_server, m) for m in (reporter, admin, other_reporter)]
    tus = {"Tus-Resumable": "1.0.0"}
    created = await client.post(
        "/v1/uploads",
        headers={**reporter.headers, **tus, "Upload-Length": str(len(PNG))},
    )
    assert created.status_code == 201, created.text
    upload_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    half = len(PNG) // 2
    for offset, chunk in ((0, PNG[:half]), (half, PNG[half:])):
        patched = await client.patch(
            f"/v1/uploads/{upload_id}",
            headers={
                **reporter.headers,
                **tus,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
            },
            content=chunk,
        )
        assert patched.status_code == 204, patched.text
    try:
        for socket in sockets[:2]:
            done = await socket.until(
                lambda f: f["type"] in {"attachment.ready", "attachment.failed"}
            )
            assert done["data"]["status"] == "ready", done
        await wait_for(lambda: streamed(session, org_id))
        for socket in sockets:
            await socket.drain(1.0)
    finally:
        for socket in sockets:
            await socket.close()
    for socket in sockets[:2]:
        progress = [e["data"] for e in socket.events if e["type"] == "upload.progress"]
        assert [(p["upload_id"], p["received"]) for p in progress] == [
            (upload_id, half),
            (upload_id, len(PNG)),
        ]
        assert {"attachment.uploaded", "attachment.processing"} <= {
            e["type"] for e in socket.events
        }
    assert sockets[2].events == []  # another reporter's upload is none of their business


async def test_an_open_stream_checks_its_credential_beside_the_events_and_ends_with_it(
    client: httpx.AsyncClient,
    session: AsyncSession,
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    with overridden(
        monkeypatch, TC_REALTIME__HEARTBEAT_S="0.2", TC_REALTIME__REAUTH_INTERVAL_S="0.2"
    ):
        socket = await watch(api_server, agent, how="message")
        # Renewing the token in-band (as before an access token expires) keeps it open.
        await socket.connection.send(json.dumps({"type": "auth", "token": agent.token}))
        await socket.connection.send("not json")  # ignored
        for _ in range(3):
            await socket.until(lambda f: f["type"] == "stream.heartbeat", timeout=10)
        # A check waits for the database beside the stream, not in its way: with the sessions
        # locked, checks fall due and wait, and events still arrive.
        async with session_factory()() as locker:
            await locker.execute(text("LOCK TABLE auth_session IN ACCESS EXCLUSIVE MODE"))
            principals.clear()
            await asyncio.sleep(0.5)
            access = Access(organization_id=agent.org_id, permission=Permission.TICKETS_READ)
            event = {"type": "ticket.updated", "organization_id": str(agent.org_id), "data": {}}
            stream_id = await bus.publish(access, json.dumps(event))
            got = await socket.until(lambda f: f["type"] == "ticket.updated", timeout=10)
            assert got["id"] == stream_id
            await locker.rollback()
        await asyncio.sleep(0.5)  # the waiting check ends (and caches the caller) before logout
        logout = await client.post("/v1/auth/logout", headers=agent.headers)
        assert logout.status_code == 204, logout.text
        with pytest.raises(ConnectionClosed) as closed:
            await socket.until(lambda f: False, timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401


async def test_open_streams_are_checked_again_in_batches_of_one_query(
    session: AsyncSession, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [await create_member(session, role=Role.AGENT) for _ in range(20)]
    with overridden(
        monkeypatch,
        TC_REALTIME__REAUTH_INTERVAL_S="1",
        TC_REALTIME__HEARTBEAT_S="0.3",
        TC_API__PRINCIPAL_CACHE_S="0",
    ):
        sockets = [await watch(api_server, member) for member in members]
        with statements_matching(SESSION_READ) as seen:
            await asyncio.sleep(3.0)
        # Each stream fell due three times or more (every 0.75 to 1 s): over 60 checks, sent
        # as a query per quarter second at most, not one each.
        assert 2 <= len(seen) <= 14, len(seen)
        # A member removed meanwhile loses their stream within an interval and a batch.
        async with session_factory()() as admin:
            await admin.execute(
                text("DELETE FROM membership WHERE user_id = :user"), {"user": members[0].user.id}
            )
            await admin.commit()
        with pytest.raises(ConnectionClosed) as closed:
            await sockets[0].until(lambda f: False, timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        for socket in sockets[1:]:
            assert socket.connection.close_code is None
            await socket.close()


SESSION_READ = re.compile(r"^SELECT\b.*\bauth_session\b", re.DOTALL)
