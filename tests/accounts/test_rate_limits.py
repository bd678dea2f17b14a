"""Rate limits as clients see them: per principal, per IP on auth endpoints, per account."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import PASSWORD, assert_problem, sign_up
from tests.support.factories import create_member
from tests.support.services import RedisServer
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import ratelimit
from ticketcreator.core.config import get_settings

pytestmark = pytest.mark.usefixtures("database")


def _limits(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    settings = get_settings()
    changed = settings.model_copy(
        update={"rate_limits": settings.rate_limits.model_copy(update=values)}
    )
    monkeypatch.setattr(ratelimit, "get_settings", lambda: changed)


async def test_authenticated_responses_carry_ratelimit_headers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session, role=Role.AGENT)
    first = await client.get("/v1/members", headers=member.headers)
    second = await client.get("/v1/members", headers=member.headers)
    assert first.headers["ratelimit-limit"] == "600"
    assert first.headers["ratelimit-policy"] == "600;w=60"
    assert int(first.headers["ratelimit-remaining"]) == 599
    assert int(second.headers["ratelimit-remaining"]) == 598
    assert 1 <= int(first.headers["ratelimit-reset"]) <= 60


async def test_100_concurrent_requests_with_a_limit_of_50_let_exactly_50_through(
    client: httpx.AsyncClient,
    probe: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member = await create_member(session, role=Role.AGENT)
    key = (
        await client.post(
            "/v1/api-keys",
            json={"name": "burst", "scopes": ["tickets:read"]},
            headers=(await create_member(session, member.organization, Role.ADMIN)).headers,
        )
    ).json()["key"]
    _limits(monkeypatch, requests_per_principal=50)
    responses = await asyncio.gather(
        *(probe.get("/probe", headers={"X-API-Key": key}) for _ in range(100))
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 50
    limited = next(response for response in responses if response.status_code == 429)
    problem = assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-remaining"] == "0"
    assert problem["retry_after_s"] == int(limited.headers["retry-after"])
    # A different principal has its own budget.
    assert (await probe.get("/probe", headers=member.headers)).status_code == 200


async def test_failed_logins_are_limited_per_account(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await sign_up(client)
    wrong = {"email": account.email, "password": "not the password"}
    for _ in range(10):
        assert_problem(await client.post("/v1/auth/login", json=wrong), 401)
    locked = await client.post("/v1/auth/login", json={**wrong, "password": PASSWORD})
    assert_problem(locked, 429, "rate-limited")
    assert int(locked.headers["retry-after"]) > 0
    assert locked.headers["ratelimit-limit"] == "10"
    # Other accounts are unaffected.
    other = await sign_up(client)
    ok = await client.post("/v1/auth/login", json={"email": other.email, "password": PASSWORD})
    assert ok.status_code == 200


async def test_a_successful_login_clears_the_failures(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    wrong = {"email": account.email, "password": "not the password"}
    for _ in range(9):
        await client.post("/v1/auth/login", json=wrong)
    ok = await client.post("/v1/auth/login", json={**wrong, "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(9):
        assert_problem(await client.post("/v1/auth/login", json=wrong), 401)


async def test_login_and_signup_are_limited_per_ip(client: httpx.AsyncClient) -> None:
    body = {"email": "nobody@example.com", "password": "irrelevant"}
    statuses = []
    for index in range(31):
        response = await client.post("/v1/auth/login", json={**body, "email": f"n{index}@x.io"})
        statuses.append(response.status_code)
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    assert_problem(await client.post("/v1/auth/signup", json={}), 429)


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_is_limited_per_session_not_per_address(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limits(monkeypatch, refreshes_per_session=3, auth_requests_per_ip=3)
    first, second = await sign_up(client), await sign_up(client)
    token = str(first.tokens["refresh_token"])
    for _ in range(3):
        refreshed = await _refresh(client, token)
        assert refreshed.status_code == 200, refreshed.text
        token = refreshed.json()["refresh_token"]
    limited = await _refresh(client, token)
    assert_problem(limited, 429, "rate-limited")
    assert limited.headers["ratelimit-limit"] == "3"
    # Another session behind the same address (an office behind NAT) still refreshes.
    other = await _refresh(client, str(second.tokens["refresh_token"]))
    assert other.status_code == 200, other.text
    # The limited token was not spent: it works once the session's window has room again.
    store = ratelimit.get_limiter().client
    await store.delete(*[key async for key in store.scan_iter(f"{ratelimit.KEY_PREFIX}*")])
    assert (await _refresh(client, token)).status_code == 200


async def test_junk_refresh_tokens_do_not_lock_out_the_address(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limits(monkeypatch, auth_requests_per_ip=5)
    account = await sign_up(client)
    statuses = [(await _refresh(client, f"tcr_junk{index}")).status_code for index in range(6)]
    assert statuses == [401] * 5 + [429]
    refreshed = await _refresh(client, str(account.tokens["refresh_token"]))
    assert refreshed.status_code == 200, refreshed.text
    login = {"email": account.email, "password": PASSWORD}
    assert (await client.post("/v1/auth/login", json=login)).status_code == 200


async def test_with_redis_down_auth_refuses_but_the_api_keeps_serving(
    client: httpx.AsyncClient, session: AsyncSession, redis_down: RedisServer
) -> None:
    member = await create_member(session, role=Role.AGENT)
    served = await client.get("/v1/members", headers=member.headers)
    assert served.status_code == 200
    assert "ratelimit-limit" not in served.headers
    login = await client.post("/v1/auth/login", json={"email": "a@b.io", "password": "x"})
    problem = assert_problem(login, 503, "service-unavailable")
    assert login.headers["retry-after"] == "5"
    assert "unavailable" in problem["detail"]


async def test_disabled_limits_add_no_headers(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limits(monkeypatch, enabled=False)
    member = await create_member(session, role=Role.AGENT)
    response = await client.get("/v1/members", headers=member.headers)
    assert "ratelimit-limit" not in response.headers
    login = await client.post("/v1/auth/login", json={"email": "a@b.io", "password": "x"})
    assert "ratelimit-limit" not in login.headers
