"""The sync engine's safety nets: the sweeper, the rate-limit budget, the HTTP client."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integrations.conftest import create_ticket, github_installation, install, push, request
from tests.integrations.fake_vendor import FakeGitHub
from tests.support.factories import Member
from ticketcreator.core.db import utcnow
from ticketcreator.integrations import sync
from ticketcreator.integrations.http import (
    Budget,
    RateLimited,
    VendorClient,
    VendorUnavailable,
    vendor_wait,
)
from ticketcreator.integrations.models import TicketSync


async def _jobs(session: AsyncSession) -> list[TicketSync]:
    session.expire_all()
    return list((await session.scalars(select(TicketSync))).all())


async def test_sweeper_recovers_changes_whose_events_were_lost(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    # no worker runs: the ticket.created event is never handled
    ticket = await create_ticket(client, admin)
    assert await sync.sweep() == 0  # too recent: the event may still arrive
    time.sleep(3.2)
    assert await sync.sweep() == 1
    [job] = await _jobs(session)
    assert job.requested_at is not None
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.issues_of("acme/web")) == 1

    # a status change and a comment whose events are lost, too
    await client.patch(
        f"/v1/tickets/{ticket['key']}", json={"status": "resolved"}, headers=admin.headers
    )
    await client.post(
        f"/v1/tickets/{ticket['key']}/comments", json={"body": "late"}, headers=admin.headers
    )
    time.sleep(3.2)
    assert await sync.sweep() == 1
    assert await push(installation["id"], ticket["id"]) == "done"
    assert fake_github.issues["acme/web#1"]["state"] == "closed"
    assert len(fake_github.comments["acme/web#1"]) == 1
    time.sleep(3.2)
    assert await sync.sweep() == 0  # all in sync


async def test_sweeper_requeues_a_sync_whose_worker_died(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    await session.execute(
        update(TicketSync).values(next_attempt_at=utcnow() + timedelta(seconds=60))
    )
    await session.commit()
    assert await sync.sweep() == 0  # its lease runs
    await session.execute(update(TicketSync).values(next_attempt_at=utcnow()))
    await session.commit()
    assert await sync.sweep() == 1
    [job] = await _jobs(session)
    assert job.next_attempt_at is not None
    assert job.next_attempt_at > utcnow()  # leased again


async def test_disabled_installation_or_deleted_ticket_clears_the_work(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    first = await create_ticket(client, admin)
    second = await create_ticket(client, admin)
    await request(installation["id"], first["id"])
    await request(installation["id"], second["id"])
    deleted = await client.delete(f"/v1/tickets/{second['key']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert await push(installation["id"], second["id"]) == "clean"
    await client.patch(
        f"/v1/integrations/{installation['id']}", json={"enabled": False}, headers=admin.headers
    )
    assert await push(installation["id"], first["id"]) == "clean"
    assert fake_github.calls == []
    assert all(job.requested_at is None for job in await _jobs(session))


async def test_budget_counts_calls_per_installation_and_honours_waits() -> None:
    budget = Budget(uuid.uuid4(), per_minute=2)
    await budget.acquire()
    await budget.acquire()
    with pytest.raises(RateLimited) as over:
        await budget.acquire()
    assert 0 < over.value.retry_after <= 60
    other = Budget(uuid.uuid4(), per_minute=2)
    await other.wait_until(0.3)
    with pytest.raises(RateLimited):
        await other.acquire()
    time.sleep(0.35)
    await other.acquire()


async def test_budget_lets_calls_through_when_redis_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails open (a closed port stands for Redis down; the session's Redis, which the
    worker uses, keeps running)."""
    import redis.asyncio as aioredis

    from ticketcreator.core.ratelimit import RateLimiter
    from ticketcreator.integrations import http

    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    monkeypatch.setattr(http, "get_limiter", lambda: RateLimiter(unreachable))
    budget = Budget(uuid.uuid4(), per_minute=1)
    await budget.acquire()
    await budget.acquire()
    await budget.wait_until(10)
    await unreachable.aclose()


def test_vendor_wait_reads_rate_limit_headers() -> None:
    reset = str(int(time.time()) + 30)
    exhausted = httpx.Response(
        403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    )
    wait = vendor_wait(exhausted)
    assert wait is not None
    assert 28 <= wait <= 31
    assert vendor_wait(httpx.Response(429, headers={"retry-after": "7"})) == 7
    assert vendor_wait(httpx.Response(429)) == 60.0
    assert vendor_wait(httpx.Response(200, headers={"x-ratelimit-remaining": "10"})) is None
    assert vendor_wait(httpx.Response(403)) is None


async def test_client_retries_safe_calls_and_never_repeats_a_post() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(503, text="busy")

    client = VendorClient(
        "https://vendor.example",
        Budget(uuid.uuid4(), per_minute=100),
        transport=httpx.MockTransport(answer),
    )
    try:
        with pytest.raises(VendorUnavailable):
            await client.request("GET", "/thing")
        with pytest.raises(VendorUnavailable):
            await client.request("POST", "/thing", json={})
    finally:
        await client.aclose()
    assert seen == ["GET", "GET", "GET", "POST"]


async def test_unreachable_vendor_is_unavailable() -> None:
    client = VendorClient("http://127.0.0.1:9", Budget(uuid.uuid4(), per_minute=100))
    try:
        with pytest.raises(VendorUnavailable):
            await client.request("GET", "/")
    finally:
        await client.aclose()


async def test_too_large_webhook_is_refused_unread(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    url = f"/v1/integrations/github/webhook/{installation['id']}"
    response = await client.post(url, content=b"x" * (5 * 1024 * 1024 + 1))
    assert response.status_code == 413
