"""Invitations: created by admins, shown once, single use, expiring, revocable."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import PASSWORD, assert_problem, sign_up
from tests.support.factories import create_member
from ticketcreator.accounts.models import AuditEntry, Invitation, Membership
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.db import utcnow

pytestmark = pytest.mark.usefixtures("database")


async def test_an_invitation_is_accepted_once_by_a_new_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await sign_up(client)
    created = await client.post(
        "/v1/invitations",
        json={"email": "New.Agent@example.com", "role": "agent"},
        headers=owner.headers,
    )
    assert created.status_code == 201
    invitation = created.json()
    assert invitation["email"] == "new.agent@example.com"
    assert invitation["status"] == "pending"
    token = invitation["token"]
    listed = (await client.get("/v1/invitations", headers=owner.headers)).json()
    assert "token" not in listed[0]
    assert listed[0]["status"] == "pending"

    accept = {"token": token, "name": "New Agent", "password": PASSWORD}
    joined = await client.post("/v1/invitations/accept", json=accept)
    assert joined.status_code == 200
    tokens = joined.json()
    assert tokens["organization_id"] == owner.organization_id
    me = (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    ).json()
    assert (me["email"], me["role"]) == ("new.agent@example.com", "agent")

    again = await client.post("/v1/invitations/accept", json=accept)
    assert_problem(again, 409, "invitation-used")
    listed = (await client.get("/v1/invitations", headers=owner.headers)).json()
    assert listed[0]["status"] == "accepted"
    actions = set((await session.scalars(select(AuditEntry.action))).all())
    assert {"invitation_created", "invitation_accepted"} <= actions
    withdraw = await client.delete(f"/v1/invitations/{invitation['id']}", headers=owner.headers)
    assert_problem(withdraw, 409, "invitation-used")


async def test_an_expired_invitation_gets_a_clear_problem(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await sign_up(client)
    token = (
        await client.post(
            "/v1/invitations", json={"email": "late@example.com"}, headers=owner.headers
        )
    ).json()["token"]
    invitation = (await session.scalars(select(Invitation))).one()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    await session.commit()
    response = await client.post(
        "/v1/invitations/accept", json={"token": token, "name": "Late", "password": PASSWORD}
    )
    problem = assert_problem(response, 410, "invitation-expired")
    assert "expired" in problem["detail"]
    listed = (await client.get("/v1/invitations", headers=owner.headers)).json()
    assert listed[0]["status"] == "expired"


async def test_a_withdrawn_or_unknown_invitation_is_404(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    created = (
        await client.post(
            "/v1/invitations", json={"email": "gone@example.com"}, headers=owner.headers
        )
    ).json()
    withdrawn = await client.delete(f"/v1/invitations/{created['id']}", headers=owner.headers)
    assert withdrawn.status_code == 204
    twice = await client.delete(f"/v1/invitations/{created['id']}", headers=owner.headers)
    assert twice.status_code == 204
    accept = {"token": created["token"], "name": "Gone", "password": PASSWORD}
    assert_problem(await client.post("/v1/invitations/accept", json=accept), 404)
    unknown = {**accept, "token": "tci_unknown"}
    assert_problem(await client.post("/v1/invitations/accept", json=unknown), 404)
    listed = (await client.get("/v1/invitations", headers=owner.headers)).json()
    assert listed[0]["status"] == "revoked"


async def test_a_new_invitation_replaces_the_pending_one(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    first = (
        await client.post("/v1/invitations", json={"email": "x@example.com"}, headers=owner.headers)
    ).json()
    await client.post("/v1/invitations", json={"email": "x@example.com"}, headers=owner.headers)
    stale = await client.post(
        "/v1/invitations/accept", json={"token": first["token"], "name": "X", "password": PASSWORD}
    )
    assert_problem(stale, 404)


async def test_a_new_account_needs_name_and_password(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    token = (
        await client.post("/v1/invitations", json={"email": "n@example.com"}, headers=owner.headers)
    ).json()["token"]
    response = await client.post("/v1/invitations/accept", json={"token": token})
    assert_problem(response, 422)


async def test_an_existing_account_accepts_with_its_access_token(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    someone = await sign_up(client)
    token = (
        await client.post(
            "/v1/invitations",
            json={"email": someone.email, "role": "reporter"},
            headers=owner.headers,
        )
    ).json()["token"]
    anonymous = await client.post(
        "/v1/invitations/accept", json={"token": token, "name": "S", "password": PASSWORD}
    )
    assert_problem(anonymous, 409, "email-taken")
    intruder = await sign_up(client)
    wrong_person = await client.post(
        "/v1/invitations/accept", json={"token": token}, headers=intruder.headers
    )
    assert_problem(wrong_person, 403)
    bad_token = await client.post(
        "/v1/invitations/accept", json={"token": token}, headers={"Authorization": "Bearer x.y.z"}
    )
    assert_problem(bad_token, 401)
    joined = await client.post(
        "/v1/invitations/accept", json={"token": token}, headers=someone.headers
    )
    assert joined.json()["organization_id"] == owner.organization_id


async def test_members_cannot_be_invited_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    agent = await create_member(session, owner.organization, Role.AGENT)
    response = await client.post(
        "/v1/invitations", json={"email": agent.user.email}, headers=owner.headers
    )
    assert_problem(response, 409, "already-member")


async def test_an_invitee_who_joined_meanwhile_cannot_accept(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await sign_up(client)
    someone = await sign_up(client)
    token = (
        await client.post("/v1/invitations", json={"email": someone.email}, headers=owner.headers)
    ).json()["token"]
    # Added by other means (e.g. `ticketcreator create-user`) before accepting.
    session.add(
        Membership(
            organization_id=uuid.UUID(owner.organization_id),
            user_id=uuid.UUID(someone.user_id),
            role=Role.VIEWER,
        )
    )
    await session.commit()
    response = await client.post(
        "/v1/invitations/accept", json={"token": token}, headers=someone.headers
    )
    assert_problem(response, 409, "already-member")
    again = await client.post(
        "/v1/invitations", json={"email": someone.email}, headers=owner.headers
    )
    assert_problem(again, 409, "already-member")


async def test_admins_invite_only_up_to_their_role(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    response = await client.post(
        "/v1/invitations",
        json={"email": "boss@example.com", "role": "owner"},
        headers=admin.headers,
    )
    assert_problem(response, 403, "role-not-allowed")
    agent = await create_member(session, admin.organization, Role.AGENT)
    assert_problem(
        await client.post(
            "/v1/invitations", json={"email": "x@example.com"}, headers=agent.headers
        ),
        403,
    )
