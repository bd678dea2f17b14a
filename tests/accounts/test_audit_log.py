"""The audit log as admins read it: filtered, paged by cursor, scoped to the organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import assert_problem
from tests.support.factories import create_member
from ticketcreator.accounts.audit import Actor, AuditAction, Origin, record
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.db import utcnow

pytestmark = pytest.mark.usefixtures("database")


async def test_admins_page_through_filtered_entries(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    agent = await create_member(session, admin.organization, Role.AGENT)
    other = await create_member(session, role=Role.ADMIN)
    start = utcnow() - timedelta(hours=1)
    for minute in range(7):
        entry = record(
            session,
            AuditAction.LOGIN,
            Actor(admin.org_id, agent.user.id if minute % 2 else admin.user.id),
            Origin("10.0.0.1", "agent/1"),
        )
        entry.created_at = start + timedelta(minutes=minute)
    record(session, AuditAction.LOGOUT, Actor(admin.org_id, admin.user.id), Origin())
    record(session, AuditAction.LOGIN, Actor(other.org_id, other.user.id), Origin())
    await session.commit()

    seen: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"action": "login", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/v1/audit-log", params=params, headers=admin.headers)
        assert page.status_code == 200
        body = page.json()
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    stamps = [item["created_at"] for item in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert {item["ip"] for item in seen} == {"10.0.0.1"}

    by_actor = await client.get(
        "/v1/audit-log", params={"actor_user_id": str(agent.user.id)}, headers=admin.headers
    )
    assert len(by_actor.json()["items"]) == 3
    window = await client.get(
        "/v1/audit-log",
        params={
            "since": (start + timedelta(minutes=2)).isoformat(),
            "until": (start + timedelta(minutes=4)).isoformat(),
        },
        headers=admin.headers,
    )
    assert len(window.json()["items"]) == 2
    everything = await client.get("/v1/audit-log", headers=admin.headers)
    assert {item["action"] for item in everything.json()["items"]} == {"login", "logout"}


async def test_a_bad_cursor_or_filter_is_a_problem(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    bad = await client.get("/v1/audit-log", params={"cursor": "%%%"}, headers=admin.headers)
    assert_problem(bad, 422, "invalid-cursor")
    forged = await client.get(
        "/v1/audit-log", params={"cursor": "bm90IGEgY3Vyc29y"}, headers=admin.headers
    )
    assert_problem(forged, 422, "invalid-cursor")
    unknown_action = await client.get(
        "/v1/audit-log", params={"action": "nope"}, headers=admin.headers
    )
    assert_problem(unknown_action, 422)
    assert_problem(
        await client.get(
            "/v1/audit-log",
            params={"actor_user_id": str(uuid.uuid4()), "limit": 0},
            headers=admin.headers,
        ),
        422,
    )


async def test_agents_cannot_read_the_audit_log(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    assert_problem(await client.get("/v1/audit-log", headers=agent.headers), 403)
