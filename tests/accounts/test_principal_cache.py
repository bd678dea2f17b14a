"""A verified caller is reused for at most ``api.principal_cache_s`` seconds (5).

Changes made through this process apply at once; changes made elsewhere (another API process,
the CLI, the database) apply within the bound. The tests make the change in the database, as
another process would, and measure when the API starts answering differently.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.auth import principals
from ticketcreator.accounts.models import ApiKey, Membership
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import db
from ticketcreator.core.config import get_settings

pytestmark = pytest.mark.usefixtures("database")


async def _seconds_until(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int
) -> float:
    """Seconds until ``GET path`` answers ``status`` (polled; fails past twice the bound)."""
    started = time.monotonic()
    while True:
        response = await client.get(path, headers=headers)
        elapsed = time.monotonic() - started
        if response.status_code == status:
            return elapsed
        assert elapsed < 2 * get_settings().api.principal_cache_s + 1, response.text
        await asyncio.sleep(0.1)


def test_the_bound_is_at_most_five_seconds() -> None:
    assert 0 < get_settings().api.principal_cache_s <= 5


async def test_a_key_revoked_elsewhere_is_refused_within_the_bound(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    created = (
        await client.post(
            "/v1/api-keys", json={"name": "ext", "scopes": ["tickets:read"]}, headers=admin.headers
        )
    ).json()
    key = {"X-API-Key": created["key"]}
    assert (await client.get("/v1/tickets", headers=key)).status_code == 200  # now cached
    await session.execute(
        update(ApiKey).where(ApiKey.id == created["id"]).values(revoked_at=ApiKey.created_at)
    )
    await session.commit()
    waited = await _seconds_until(client, "/v1/tickets", key, 401)
    assert waited <= get_settings().api.principal_cache_s + 0.5


async def test_a_member_removed_elsewhere_is_refused_within_the_bound(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    assert (await client.get("/v1/tickets", headers=agent.headers)).status_code == 200
    await session.execute(
        delete(Membership).where(
            Membership.user_id == agent.user.id, Membership.organization_id == agent.org_id
        )
    )
    await session.commit()
    waited = await _seconds_until(client, "/v1/tickets", agent.headers, 401)
    assert waited <= get_settings().api.principal_cache_s + 0.5


async def test_a_role_changed_elsewhere_applies_within_the_bound(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    assert (await client.get("/v1/api-keys", headers=admin.headers)).status_code == 200
    await session.execute(
        update(Membership)
        .where(Membership.user_id == admin.user.id, Membership.organization_id == admin.org_id)
        .values(role=Role.VIEWER)
    )
    await session.commit()
    waited = await _seconds_until(client, "/v1/api-keys", admin.headers, 403)
    assert waited <= get_settings().api.principal_cache_s + 0.5


async def test_changes_made_through_this_process_apply_at_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    agent = await create_member(session, owner.organization, Role.AGENT)
    created = (
        await client.post(
            "/v1/api-keys", json={"name": "ext", "scopes": ["tickets:read"]}, headers=owner.headers
        )
    ).json()
    key = {"X-API-Key": created["key"]}
    assert (await client.get("/v1/tickets", headers=key)).status_code == 200
    assert (await client.get("/v1/tickets", headers=agent.headers)).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    assert (await client.get("/v1/tickets", headers=key)).status_code == 401
    changed = await client.patch(
        f"/v1/members/{agent.user.id}", json={"role": "viewer"}, headers=owner.headers
    )
    assert changed.status_code == 200, changed.text
    assert (
        await client.post("/v1/tickets", json={"title": "x"}, headers=agent.headers)
    ).status_code == 403
    removed = await client.delete(f"/v1/members/{agent.user.id}", headers=owner.headers)
    assert removed.status_code == 204
    assert (await client.get("/v1/tickets", headers=agent.headers)).status_code == 401


async def test_a_cached_caller_is_served_without_making_a_session(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await create_member(session, role=Role.AGENT)
    assert (await client.get("/v1/tickets", headers=member.headers)).status_code == 200
    made: list[object] = []
    factory = db.read_session_factory

    def counted() -> object:
        made.append(factory)
        return factory()

    monkeypatch.setattr(db, "read_session_factory", counted)
    assert (await client.get("/v1/tickets", headers=member.headers)).status_code == 200
    assert made == [], "the caller came from the cache and the list reads on its own pool"
    principals.clear()
    assert (await client.get("/v1/tickets", headers=member.headers)).status_code == 200
    assert len(made) == 1, "a caller not in the cache is looked up in the request's session"
