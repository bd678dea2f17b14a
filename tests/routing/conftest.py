"""Members, teams and helpers for the routing tests; rules and policies go through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.tickets.conftest import admin, agent, new_ticket, outsider, reporter, viewer
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.db import session_factory
from ticketcreator.tickets.models import TicketEvent

__all__ = ["admin", "agent", "new_ticket", "outsider", "reporter", "viewer"]


async def call(
    client: httpx.AsyncClient,
    member: Member,
    method: str,
    path: str,
    expected: int = 200,
    **kwargs: Any,
) -> Any:
    response = await client.request(method, path, headers=member.headers, **kwargs)
    assert response.status_code == expected, response.text
    return response.json() if response.content else None


async def create_rule(client: httpx.AsyncClient, admin: Member, **fields: Any) -> dict[str, Any]:
    body = {"name": f"rule {uuid.uuid4().hex[:6]}", **fields}
    rule: dict[str, Any] = await call(client, admin, "POST", "/v1/routing/rules", 201, json=body)
    return rule


async def create_team(
    client: httpx.AsyncClient, admin: Member, members: list[Member], name: str | None = None
) -> str:
    team = await call(
        client, admin, "POST", "/v1/teams", 201, json={"name": name or uuid.uuid4().hex[:8]}
    )
    for member in members:
        response = await client.put(
            f"/v1/teams/{team['id']}/members/{member.user.id}", headers=admin.headers
        )
        assert response.status_code in (200, 201, 204), response.text
    return str(team["id"])


@pytest.fixture
async def agents(session: AsyncSession, admin: Member) -> list[Member]:
    return [await create_member(session, admin.organization, Role.AGENT) for _ in range(3)]


async def events(ticket_id: str, kind: str | None = None) -> list[TicketEvent]:
    async with session_factory()() as db:
        query = select(TicketEvent).where(TicketEvent.ticket_id == uuid.UUID(ticket_id))
        if kind is not None:
            query = query.where(TicketEvent.kind == kind)
        rows = await db.scalars(query.order_by(TicketEvent.created_at, TicketEvent.id))
        return list(rows.all())


async def in_session(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a routing flow in its own transaction, as a worker task would, and commit."""
    from ticketcreator.core.db import commit

    async with session_factory()() as db:
        result = await function(db, *args, **kwargs)
        await commit(db)
        return result
