"""API keys: shown once, stored hashed, scoped, role-capped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import assert_problem
from tests.support.factories import Member, create_member
from ticketcreator.accounts.api_keys import new_api_key
from ticketcreator.accounts.models import ApiKey, AuditEntry
from ticketcreator.accounts.permissions import Role
from ticketcreator.accounts.tokens import hash_secret
from ticketcreator.core.db import utcnow

pytestmark = pytest.mark.usefixtures("database")


async def _create(client: httpx.AsyncClient, member: Member, **fields: object) -> httpx.Response:
    body = {"name": "extension", **fields}
    return await client.post("/v1/api-keys", json=body, headers=member.headers)


async def test_a_key_is_shown_once_and_stored_as_a_hash(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    created = await client.post(
        "/v1/api-keys",
        json={"name": "extension", "scopes": ["tickets:read", "captures:write", "tickets:read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(f"tck_{body['prefix']}_")
    assert body["scopes"] == ["captures:write", "tickets:read"]
    assert body["role"] == "admin"
    record = (await session.scalars(select(ApiKey))).one()
    assert record.key_hash == hash_secret(key)
    assert key not in str(record.__dict__)
    listed = await client.get("/v1/api-keys", headers=admin.headers)
    assert listed.status_code == 200
    assert "key" not in listed.json()[0]
    assert key not in listed.text
    entry = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key_created"))
    ).one()
    assert key not in str(entry.details)


async def test_scopes_must_come_from_the_api_key_subset(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    problem = assert_problem(await _create(client, admin, scopes=["members:manage"]), 422)
    assert "members:manage" in problem["errors"][0]["message"]
    assert_problem(await _create(client, admin, scopes=[]), 422)
    past = (utcnow() - timedelta(days=1)).isoformat()
    assert_problem(await _create(client, admin, scopes=["tickets:read"], expires_at=past), 422)


async def test_a_key_cannot_outrank_its_creator(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    response = await _create(client, admin, scopes=["tickets:read"], role="owner")
    assert_problem(response, 403, "role-not-allowed")
    lower = await _create(client, admin, scopes=["tickets:read"], role="viewer")
    assert lower.json()["role"] == "viewer"


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
async def test_a_key_works_in_both_headers_and_updates_last_used(
    client: httpx.AsyncClient, probe: httpx.AsyncClient, session: AsyncSession, header: str
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    created = (await _create(client, admin, scopes=["tickets:read"], role="agent")).json()
    key = created["key"]
    headers = {header: key if header == "X-API-Key" else f"ApiKey {key}"}
    response = await probe.get("/probe", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "organization_id": str(admin.org_id),
        "role": "agent",
        "api_key_id": created["id"],
    }
    record = (await session.scalars(select(ApiKey))).one()
    await session.refresh(record)
    assert record.last_used_at is not None


async def test_scopes_are_enforced(
    client: httpx.AsyncClient, probe: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    key = (await _create(client, admin, scopes=["captures:write"])).json()["key"]
    problem = assert_problem(await probe.get("/probe", headers={"X-API-Key": key}), 403)
    assert problem["required_permission"] == "tickets:read"
    # members:read belongs to every role, but no key can hold it.
    assert_problem(await client.get("/v1/members", headers={"X-API-Key": key}), 403)


async def test_account_routes_are_for_people_not_keys(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    key = (await _create(client, admin, scopes=["tickets:read"])).json()["key"]
    assert_problem(await client.get("/v1/me", headers={"X-API-Key": key}), 403)
    assert_problem(await client.post("/v1/auth/logout", headers={"X-API-Key": key}), 403)


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
async def test_revoked_expired_and_malformed_keys_are_401(
    client: httpx.AsyncClient, session: AsyncSession, header: str
) -> None:
    admin = await create_member(session, role=Role.ADMIN)

    def send(key: str) -> dict[str, str]:
        return {header: key if header == "X-API-Key" else f"ApiKey {key}"}

    revoked = (await _create(client, admin, scopes=["tickets:read"])).json()
    expiring = (await _create(client, admin, scopes=["tickets:read"])).json()
    response = await client.delete(f"/v1/api-keys/{revoked['id']}", headers=admin.headers)
    assert response.status_code == 204
    again = await client.delete(f"/v1/api-keys/{revoked['id']}", headers=admin.headers)
    assert again.status_code == 204
    record = (await session.scalars(select(ApiKey).where(ApiKey.id == expiring["id"]))).one()
    record.expires_at = utcnow() - timedelta(seconds=1)
    await session.commit()
    wrong_secret = revoked["key"][:-4] + "abcd"
    for key in (revoked["key"], expiring["key"], "tck_nope", "garbage", wrong_secret):
        assert_problem(await client.get("/v1/me", headers=send(key)), 401, "unauthorized")
    listed = {
        item["id"]: item
        for item in (await client.get("/v1/api-keys", headers=admin.headers)).json()
    }
    assert listed[revoked["id"]]["revoked_at"] is not None
    revocations = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key_revoked"))
    ).all()
    assert len(revocations) == 1


async def test_a_key_is_never_treated_as_a_person(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    """Even a key row that (wrongly) holds `account:self` gets no account actions."""
    admin = await create_member(session, role=Role.ADMIN)
    key, prefix = new_api_key()
    session.add(
        ApiKey(
            organization_id=admin.org_id,
            created_by=admin.user.id,
            name="forged",
            prefix=prefix,
            key_hash=hash_secret(key),
            scopes=["account:self"],
            role=Role.ADMIN,
        )
    )
    await session.commit()
    response = await client.get("/v1/me", headers={"X-API-Key": key})
    assert_problem(response, 403, "user-session-required")


async def test_the_credential_headers_are_read_as_the_security_schemes_declare(
    client: httpx.AsyncClient, probe: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    key = (await _create(client, admin, scopes=["tickets:read"], role="agent")).json()
    token = admin.token

    async def caller(headers: dict[str, str]) -> str | None:
        response = await probe.get("/probe", headers=headers)
        assert response.status_code == 200, (headers, response.text)
        assert response.headers["ratelimit-limit"]
        api_key_id: str | None = response.json()["api_key_id"]
        return api_key_id

    # The Bearer scheme in any case, the token around spaces trimmed (as HTTPBearer reads it).
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert await caller({"Authorization": f"{scheme} {token}"}) is None
    assert await caller({"Authorization": f"Bearer   {token}  "}) is None
    assert await caller({"Authorization": f"apikey {key['key']}"}) == key["id"]
    # Both headers: X-API-Key is the credential; an empty one is none.
    both = {"X-API-Key": key["key"], "Authorization": "Bearer not.a.jwt"}
    assert await caller(both) == key["id"]
    assert await caller({"X-API-Key": "", "Authorization": f"Bearer {token}"}) is None
    wrong_key = {"X-API-Key": "tck_nope_nope", "Authorization": f"Bearer {token}"}
    assert_problem(await probe.get("/probe", headers=wrong_key), 401, "unauthorized")
    # No credential: an empty token, a scheme alone or an unknown scheme.
    for authorization in ("Bearer", "Bearer ", "Bearer    ", f" {token}", f"Basic {token}"):
        response = await probe.get("/probe", headers={"Authorization": authorization})
        problem = assert_problem(response, 401, "unauthorized")
        assert "Send `Authorization: Bearer <token>`" in problem["detail"], authorization
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "ratelimit-limit" not in response.headers
