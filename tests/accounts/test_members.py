"""Members: listing, role changes and removal, with the rank and last-owner rules."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import assert_problem, sign_up
from tests.support.factories import Member, create_member
from ticketcreator.accounts.models import ApiKey, AuditEntry, AuthSession
from ticketcreator.accounts.permissions import Role

pytestmark = pytest.mark.usefixtures("database")


async def _team(session: AsyncSession, client: httpx.AsyncClient) -> dict[Role, Member]:
    owner = await create_member(session, role=Role.OWNER)
    team = {Role.OWNER: owner}
    for role in (Role.ADMIN, Role.AGENT, Role.REPORTER, Role.VIEWER):
        team[role] = await create_member(session, owner.organization, role)
    return team


async def test_members_are_listed_for_any_member(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    response = await client.get("/v1/members", headers=team[Role.VIEWER].headers)
    assert response.status_code == 200
    listed = {item["user_id"]: item for item in response.json()}
    assert set(listed) == {str(member.user.id) for member in team.values()}
    assert listed[str(team[Role.ADMIN].user.id)]["role"] == "admin"
    assert listed[str(team[Role.ADMIN].user.id)]["name"] == team[Role.ADMIN].user.name


async def test_an_admin_changes_a_role_and_it_applies_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    agent = team[Role.AGENT]
    response = await client.patch(
        f"/v1/members/{agent.user.id}", json={"role": "viewer"}, headers=team[Role.ADMIN].headers
    )
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    me = (await client.get("/v1/me", headers=agent.headers)).json()
    assert me["role"] == "viewer"
    entry = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "member_role_changed"))
    ).one()
    assert entry.details["from"] == "agent"
    assert entry.details["to"] == "viewer"
    assert entry.actor_user_id == team[Role.ADMIN].user.id


async def test_a_reporter_calling_an_admin_route_gets_403(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    response = await client.patch(
        f"/v1/members/{team[Role.AGENT].user.id}",
        json={"role": "viewer"},
        headers=team[Role.REPORTER].headers,
    )
    problem = assert_problem(response, 403, "forbidden")
    assert problem["required_permission"] == "members:manage"
    for path in ("/v1/audit-log", "/v1/api-keys", "/v1/invitations"):
        assert_problem(await client.get(path, headers=team[Role.REPORTER].headers), 403)


async def test_admins_cannot_touch_owners_or_grant_ownership(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    admin = team[Role.ADMIN].headers
    demote_owner = await client.patch(
        f"/v1/members/{team[Role.OWNER].user.id}", json={"role": "agent"}, headers=admin
    )
    assert_problem(demote_owner, 403, "role-not-allowed")
    promote = await client.patch(
        f"/v1/members/{team[Role.AGENT].user.id}", json={"role": "owner"}, headers=admin
    )
    assert_problem(promote, 403, "role-not-allowed")
    remove_owner = await client.delete(f"/v1/members/{team[Role.OWNER].user.id}", headers=admin)
    assert_problem(remove_owner, 403, "role-not-allowed")


async def test_the_last_owner_can_be_neither_demoted_nor_removed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    owner = team[Role.OWNER]
    demote = await client.patch(
        f"/v1/members/{owner.user.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert_problem(demote, 409, "last-owner")
    remove = await client.delete(f"/v1/members/{owner.user.id}", headers=owner.headers)
    assert_problem(remove, 409, "last-owner")
    keep_owner = await client.patch(
        f"/v1/members/{owner.user.id}", json={"role": "owner"}, headers=owner.headers
    )
    assert keep_owner.status_code == 200


async def test_with_a_second_owner_the_first_may_step_down(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    owner = team[Role.OWNER]
    promote = await client.patch(
        f"/v1/members/{team[Role.ADMIN].user.id}", json={"role": "owner"}, headers=owner.headers
    )
    assert promote.json()["role"] == "owner"
    step_down = await client.delete(f"/v1/members/{owner.user.id}", headers=owner.headers)
    assert step_down.status_code == 204
    assert_problem(await client.get("/v1/me", headers=owner.headers), 401)


async def test_removal_revokes_the_members_sessions_and_keys(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    admin = team[Role.ADMIN]
    created = await client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["tickets:read"]}, headers=admin.headers
    )
    key = created.json()["key"]
    response = await client.delete(f"/v1/members/{admin.user.id}", headers=team[Role.OWNER].headers)
    assert response.status_code == 204
    assert_problem(await client.get("/v1/me", headers=admin.headers), 401)
    assert_problem(await client.get("/v1/members", headers={"X-API-Key": key}), 401)
    members = (await client.get("/v1/members", headers=team[Role.OWNER].headers)).json()
    assert str(admin.user.id) not in {item["user_id"] for item in members}
    revoked = (await session.scalars(select(AuthSession.revoked_reason))).all()
    assert "member_removed" in revoked
    entry = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "member_removed"))
    ).one()
    assert entry.details == {"role": "admin", "sessions_revoked": 1, "api_keys_revoked": 1}


async def test_demotion_lowers_the_role_of_the_members_api_keys(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    admin = team[Role.ADMIN]
    created = await client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["tickets:read"]}, headers=admin.headers
    )
    assert created.json()["role"] == "admin"
    await client.patch(
        f"/v1/members/{admin.user.id}", json={"role": "reporter"}, headers=team[Role.OWNER].headers
    )
    key = (await session.scalars(select(ApiKey))).one()
    assert key.role == Role.REPORTER


async def test_unknown_members_are_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    team = await _team(session, client)
    outsider = await create_member(session, role=Role.AGENT)
    for user_id in (outsider.user.id, "00000000-0000-0000-0000-000000000000"):
        patch = await client.patch(
            f"/v1/members/{user_id}", json={"role": "viewer"}, headers=team[Role.OWNER].headers
        )
        assert_problem(patch, 404, "not-found")


async def test_my_organizations_and_switching(client: httpx.AsyncClient) -> None:
    first = await sign_up(client)
    second = await sign_up(client)
    invite = await client.post(
        "/v1/invitations", json={"email": first.email, "role": "viewer"}, headers=second.headers
    )
    await client.post(
        "/v1/invitations/accept", json={"token": invite.json()["token"]}, headers=first.headers
    )
    mine = (await client.get("/v1/me/organizations", headers=first.headers)).json()
    assert [(org["id"], org["role"]) for org in mine] == [
        (first.organization_id, "owner"),
        (second.organization_id, "viewer"),
    ]
    switched = await client.post(
        f"/v1/me/organizations/{second.organization_id}/switch", headers=first.headers
    )
    assert switched.status_code == 200
    tokens = switched.json()
    assert tokens["organization_id"] == second.organization_id
    me = (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    ).json()
    assert me["organization"]["id"] == second.organization_id
    assert me["role"] == "viewer"
    # The original session is still valid.
    assert (await client.get("/v1/me", headers=first.headers)).status_code == 200
    third = await sign_up(client)
    refused = await client.post(
        f"/v1/me/organizations/{third.organization_id}/switch", headers=first.headers
    )
    assert_problem(refused, 404)


async def test_member_emails_are_for_staff_unless_the_organization_shows_them_to_all(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await _team(session, client)
    outsider = await create_member(session, role=Role.OWNER)

    async def emails(role: Role) -> dict[str, str | None]:
        response = await client.get("/v1/members", headers=team[role].headers)
        assert response.status_code == 200
        return {item["user_id"]: item["email"] for item in response.json()}

    everyone = {str(m.user.id): m.user.email for m in team.values()}
    for role in (Role.REPORTER, Role.VIEWER):
        listed = await emails(role)
        own = str(team[role].user.id)
        assert listed == {
            user_id: (everyone[own] if user_id == own else None) for user_id in everyone
        }
    for role in (Role.OWNER, Role.ADMIN, Role.AGENT):
        assert await emails(role) == everyone

    url = "/v1/organization/settings"
    assert (await client.get(url, headers=team[Role.ADMIN].headers)).json() == {
        "member_emails_visible_to_all": False
    }
    for role in (Role.AGENT, Role.REPORTER, Role.VIEWER):
        refused = await client.patch(
            url, json={"member_emails_visible_to_all": True}, headers=team[role].headers
        )
        assert_problem(refused, 403)
    assert_problem(await client.get(url, headers=team[Role.AGENT].headers), 403)
    assert_problem(
        await client.patch(
            url, json={"member_emails_visible_to_all": "yes"}, headers=team[Role.ADMIN].headers
        ),
        422,
    )
    changed = await client.patch(
        url, json={"member_emails_visible_to_all": True}, headers=team[Role.ADMIN].headers
    )
    assert changed.status_code == 200
    assert changed.json() == {"member_emails_visible_to_all": True}
    for role in (Role.REPORTER, Role.VIEWER):
        assert await emails(role) == everyone
    # Another organization's setting is its own.
    assert (await client.get(url, headers=outsider.headers)).json() == {
        "member_emails_visible_to_all": False
    }
    entry = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "organization_settings_changed")
        )
    ).one()
    assert entry.details == {"member_emails_visible_to_all": True}
    assert entry.organization_id == team[Role.ADMIN].org_id

    hidden = await client.patch(
        url, json={"member_emails_visible_to_all": False}, headers=team[Role.OWNER].headers
    )
    assert hidden.json() == {"member_emails_visible_to_all": False}
    assert (await emails(Role.VIEWER))[str(team[Role.ADMIN].user.id)] is None
