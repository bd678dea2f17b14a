"""Tenant isolation: another organization's members, keys and invitations answer 404."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import assert_problem
from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Role

pytestmark = pytest.mark.usefixtures("database")

RESOURCE_ROUTES = [
    ("PATCH", "/v1/members/{member}", {"role": "viewer"}),
    ("DELETE", "/v1/members/{member}", None),
    ("DELETE", "/v1/api-keys/{api_key}", None),
    ("DELETE", "/v1/invitations/{invitation}", None),
    ("POST", "/v1/me/organizations/{organization}/switch", None),
]


@pytest.mark.parametrize(("method", "template", "body"), RESOURCE_ROUTES)
async def test_another_organizations_object_is_not_found(
    client: httpx.AsyncClient,
    session: AsyncSession,
    method: str,
    template: str,
    body: dict[str, str] | None,
) -> None:
    victim = await create_member(session, role=Role.OWNER)
    victim_agent = await create_member(session, victim.organization, Role.AGENT)
    attacker = await create_member(session, role=Role.OWNER)
    api_key = await client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["tickets:read"]}, headers=victim.headers
    )
    invitation = await client.post(
        "/v1/invitations", json={"email": "v@example.com"}, headers=victim.headers
    )
    ids = {
        "member": victim_agent.user.id,
        "api_key": api_key.json()["id"],
        "invitation": invitation.json()["id"],
        "organization": victim.org_id,
    }
    response = await client.request(
        method, template.format(**ids), json=body, headers=attacker.headers
    )
    problem = assert_problem(response, 404, "not-found")
    assert str(victim.org_id) not in problem["detail"]
    # Nothing changed on the victim's side.
    members = (await client.get("/v1/members", headers=victim.headers)).json()
    assert {m["user_id"]: m["role"] for m in members}[str(victim_agent.user.id)] == "agent"
    keys = (await client.get("/v1/api-keys", headers=victim.headers)).json()
    assert keys[0]["revoked_at"] is None
    invitations = (await client.get("/v1/invitations", headers=victim.headers)).json()
    assert invitations[0]["status"] == "pending"


async def test_listings_show_only_the_callers_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await create_member(session, role=Role.OWNER)
    second = await create_member(session, role=Role.OWNER)
    await client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["tickets:read"]}, headers=second.headers
    )
    await client.post("/v1/invitations", json={"email": "x@example.com"}, headers=second.headers)
    assert [
        m["user_id"] for m in (await client.get("/v1/members", headers=first.headers)).json()
    ] == [str(first.user.id)]
    assert (await client.get("/v1/api-keys", headers=first.headers)).json() == []
    assert (await client.get("/v1/invitations", headers=first.headers)).json() == []
    audit = (await client.get("/v1/audit-log", headers=first.headers)).json()
    assert audit["items"] == []
