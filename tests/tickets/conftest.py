"""Members of two organizations, and a helper that creates tickets through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role


@pytest.fixture
async def admin(session: AsyncSession) -> Member:
    return await create_member(session, role=Role.ADMIN)


@pytest.fixture
async def agent(session: AsyncSession, admin: Member) -> Member:
    return await create_member(session, admin.organization, Role.AGENT)


@pytest.fixture
async def reporter(session: AsyncSession, admin: Member) -> Member:
    return await create_member(session, admin.organization, Role.REPORTER)


@pytest.fixture
async def viewer(session: AsyncSession, admin: Member) -> Member:
    return await create_member(session, admin.organization, Role.VIEWER)


@pytest.fixture
async def outsider(session: AsyncSession) -> Member:
    """An admin of another organization."""
    return await create_member(session, role=Role.ADMIN)


async def new_ticket(client: httpx.AsyncClient, member: Member, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout button does nothing", **fields}
    response = await client.post("/v1/tickets", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket
