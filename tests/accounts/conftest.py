"""Accounts test helpers: a fresh rate-limit budget per test and sign-up through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI

from tests.support.services import RedisServer
from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.errors import install_error_handlers
from ticketcreator.core.middleware import RequestIdMiddleware
from ticketcreator.core.ratelimit import KEY_PREFIX

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
async def _fresh_rate_limits(redis_server: RedisServer) -> None:
    """Every test starts with untouched budgets (all test requests share one client IP)."""
    client = aioredis.Redis.from_url(redis_server.url(0))
    try:
        keys = [key async for key in client.scan_iter(f"{KEY_PREFIX}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    @property
    def organization_id(self) -> str:
        return str(self.tokens["organization_id"])

    @property
    def user_id(self) -> str:
        return str(self.tokens["user_id"])


async def sign_up(client: httpx.AsyncClient, **fields: Any) -> Account:
    body = {
        "email": f"owner-{uuid.uuid4().hex[:8]}@example.com",
        "name": "Olive Owner",
        "password": PASSWORD,
        "organization_name": "Org " + uuid.uuid4().hex[:6],
        **fields,
    }
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return Account(body["email"], body["password"], response.json())


async def invite(client: httpx.AsyncClient, owner: Account, email: str) -> dict[str, Any]:
    """Invite ``email`` as an agent of the owner's organization; the 201 body (with token)."""
    created = await client.post(
        "/v1/invitations", json={"email": email, "role": "agent"}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if slug is not None:
        assert problem["type"].endswith("/" + slug), problem
    return problem


def probe_app() -> FastAPI:
    """A minimal app with one route guarded like every product route (``tickets:read``), to
    exercise authentication and limits without depending on another domain's routes."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)  # adds the rate limit's headers to every answer
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/probe")
    async def probe(
        principal: Annotated[Principal, Depends(Authorizer(Permission.TICKETS_READ))],
    ) -> dict[str, str | None]:
        return {
            "organization_id": str(principal.organization_id),
            "role": principal.role.value,
            "api_key_id": str(principal.api_key_id) if principal.api_key_id else None,
        }

    app.include_router(router)
    return app


@pytest.fixture
async def probe(database: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probe_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        yield http
