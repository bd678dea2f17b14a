"""Fake vendors, members, installations made through the API, and sync helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integrations.fake_vendor import FakeGitHub, FakeJira
from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    server = FakeJira()
    server.start()
    yield server
    server.stop()


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
    return await create_member(session, role=Role.ADMIN)


WEBHOOK_SECRET = "whsec-test-secret"


def github_installation(fake: FakeGitHub, **config: Any) -> dict[str, Any]:
    return {
        "provider": "github",
        "name": "Web app repo",
        "base_url": fake.base_url,
        "config": {"owner": "acme", "repo": "web", **config},
        "secrets": {"token": FakeGitHub.TOKEN, "webhook_secret": WEBHOOK_SECRET},
    }


def jira_installation(fake: FakeJira, **config: Any) -> dict[str, Any]:
    return {
        "provider": "jira",
        "name": "Jira ACME",
        "base_url": fake.base_url,
        "config": {"project_key": "ACME", "email": FakeJira.EMAIL, **config},
        "secrets": {"api_token": FakeJira.API_TOKEN, "webhook_secret": WEBHOOK_SECRET},
    }


async def install(
    client: httpx.AsyncClient, member: Member, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/v1/integrations", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_ticket(client: httpx.AsyncClient, member: Member, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout button does nothing", **fields}
    response = await client.post("/v1/tickets", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def push(installation_id: str, ticket_id: str) -> str:
    """Run one sync the way the worker's task does (without the worker)."""
    from ticketcreator.integrations import sync

    result = await sync.push(uuid.UUID(installation_id), uuid.UUID(ticket_id))
    if result.error:
        print(f"push {result.outcome}: {result.error}")  # shown when a test fails
    return result.outcome


async def request(installation_id: str, ticket_id: str) -> None:
    """Mark a ticket for sync without queueing a task (tests drive the push themselves)."""
    from ticketcreator.core.db import session_factory, utcnow
    from ticketcreator.integrations import repository as repo
    from ticketcreator.integrations.models import Installation

    async with session_factory()() as session:
        installation = await session.get(Installation, uuid.UUID(installation_id))
        assert installation is not None
        await repo.request_sync(
            session,
            installation.organization_id,
            installation.id,
            uuid.UUID(ticket_id),
            utcnow(),
            reset_attempts=True,
        )
        await session.commit()


async def link_of(session: AsyncSession, ticket_id: str) -> Any:
    from ticketcreator.tickets.models import ExternalLink

    session.expire_all()
    return (
        await session.scalars(
            select(ExternalLink).where(ExternalLink.ticket_id == uuid.UUID(ticket_id))
        )
    ).first()
