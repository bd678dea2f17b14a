from __future__ import annotations

import os

# One BLAS thread per process: the MiniLM forward pass is slow when threads oversubscribe.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.taxonomy.models import Category

CATEGORIES = {
    "Billing": "invoices, payments, refunds, credit card charges, subscription price",
    "Login": "signing in, passwords, two-factor authentication, locked accounts, SSO",
    "Performance": "slow pages, timeouts, high latency, the app is sluggish",
}


@dataclass(frozen=True)
class Org:
    admin: Member
    agent: Member
    categories: dict[str, uuid.UUID]


@pytest.fixture
async def org(session: AsyncSession) -> Org:
    admin = await create_member(session, role=Role.ADMIN)
    agent = await create_member(session, admin.organization, role=Role.AGENT)
    ids = {}
    for name, description in CATEGORIES.items():
        category = Category(
            id=uuid.uuid4(),
            organization_id=admin.org_id,
            name=name,
            description=description,
        )
        session.add(category)
        ids[name] = category.id
    await session.commit()
    return Org(admin=admin, agent=agent, categories=ids)


async def create_ticket(
    client: httpx.AsyncClient, member: Member, title: str, description: str, **extra: object
) -> dict[str, object]:
    response = await client.post(
        "/v1/tickets",
        headers=member.headers,
        json={"title": title, "description": description, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body
