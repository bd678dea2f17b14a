"""The Redis sliding-window limiter: exact under concurrency, with draft RateLimit headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tests.support.factories import create_member
from tests.support.services import RedisServer
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import leases, ratelimit
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import ServiceUnavailable, TooManyRequests
from ticketcreator.core.ratelimit import RateLimiter, client_ip
from ticketcreator.main import create_app


@pytest.fixture
async def limiter(redis_server: RedisServer) -> AsyncIterator[RateLimiter]:
    client = aioredis.Redis.from_url(redis_server.url(0))
    yield RateLimiter(client)
    await client.aclose()


async def test_100_concurrent_hits_against_a_limit_of_50_let_exactly_50_through(
    limiter: RateLimiter,
) -> None:
    key = f"test:{uuid.uuid4()}"
    results = await asyncio.gather(*(limiter.hit(key, 50, 60) for _ in range(100)))
    assert sum(result.allowed for result in results) == 50
    assert sorted(result.remaining for result in results if result.allowed) == list(range(50))
    denied = [result for result in results if not result.allowed]
    assert all(result.remaining == 0 for result in denied)
    assert all(1 <= result.reset_s <= 60 for result in denied)


async def test_leases_let_exactly_the_limit_through_a_burst(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    results = await asyncio.gather(*(limiter.take(key, 50, 60) for _ in range(100)))
    assert sum(result.allowed for result in results) == 50
    denied = [result for result in results if not result.allowed]
    assert all(result.remaining == 0 for result in denied)
    assert await limiter.client.zcard(ratelimit.KEY_PREFIX + key) == 50


async def test_processes_sharing_a_budget_never_overshoot_it(redis_server: RedisServer) -> None:
    """Two processes (two limiters), each with a burst: leases never record more than the
    budget, so at most the limit gets through, however the leases fall."""
    clients = [aioredis.Redis.from_url(redis_server.url(0)) for _ in range(2)]
    limiters = [RateLimiter(client) for client in clients]
    key = f"test:{uuid.uuid4()}"
    results = await asyncio.gather(
        *(limiter.take(key, 50, 60) for limiter in limiters for _ in range(60))
    )
    assert 46 <= sum(result.allowed for result in results) <= 50
    assert await clients[0].zcard(ratelimit.KEY_PREFIX + key) == 50
    for client in clients:
        await client.aclose()


async def test_a_busy_principal_asks_redis_for_a_few_requests_at_once(
    limiter: RateLimiter,
) -> None:
    key = f"test:{uuid.uuid4()}"
    before = await _lua_calls(limiter)
    results = await asyncio.gather(*(limiter.take(key, 100_000, 60) for _ in range(200)))
    assert all(result.allowed for result in results)
    assert await _lua_calls(limiter) - before <= 40
    assert await limiter.client.zcard(ratelimit.KEY_PREFIX + key) >= 200


async def test_requests_one_at_a_time_are_counted_one_by_one(
    limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A principal slower than a lease's life never gets more than itself recorded."""
    monkeypatch.setattr(leases, "LEASE_S", 0.05)
    key = f"test:{uuid.uuid4()}"
    remaining = []
    for _ in range(5):
        remaining.append((await limiter.take(key, 600, 60)).remaining)
        await asyncio.sleep(0.06)
    assert remaining == [599, 598, 597, 596, 595]
    assert await limiter.client.zcard(ratelimit.KEY_PREFIX + key) == 5


async def _lua_calls(limiter: RateLimiter) -> int:
    stats = await limiter.client.info("commandstats")
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if name in ("cmdstat_evalsha", "cmdstat_eval")
    )


async def test_the_window_slides(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    assert (await limiter.hit(key, 1, 1)).allowed
    assert not (await limiter.hit(key, 1, 1)).allowed
    await asyncio.sleep(1.05)
    assert (await limiter.hit(key, 1, 1)).allowed


async def test_reset_forgets_the_key(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    await limiter.hit(key, 1, 60)
    await limiter.reset(key)
    assert (await limiter.hit(key, 1, 60)).allowed


async def test_results_render_headers_and_a_429(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    first = await limiter.hit(key, 1, 60)
    assert first.headers() == {
        "RateLimit-Limit": "1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "1;w=60",
    }
    over = await limiter.hit(key, 1, 60)
    error = over.exceeded("slow down")
    assert isinstance(error, TooManyRequests)
    assert error.status == 429
    assert error.headers["Retry-After"] == str(over.reset_s)
    assert error.extensions == {"retry_after_s": over.reset_s}


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


def _with(monkeypatch: pytest.MonkeyPatch, section: str, **values: Any) -> None:
    settings = get_settings()
    changed = settings.model_copy(
        update={section: getattr(settings, section).model_copy(update=values)}
    )
    monkeypatch.setattr(ratelimit, "get_settings", lambda: changed)


async def _recorded_ip(app: FastAPI, session: AsyncSession, peer: str, forwarded: str) -> str:
    """Create an API key through the app as ``peer`` and read the address the audit log kept."""
    admin = await create_member(session, role=Role.ADMIN)
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        created = await http.post(
            "/v1/api-keys",
            json={"name": "ci", "scopes": ["tickets:read"]},
            headers={**admin.headers, "X-Forwarded-For": forwarded},
        )
        assert created.status_code == 201, created.text
        entries = (await http.get("/v1/audit-log", headers=admin.headers)).json()["items"]
    return str(next(e["ip"] for e in entries if e["action"] == "api_key_created"))


async def test_the_client_ip_is_the_peer_unless_a_trusted_proxy_forwards(
    session: AsyncSession,
) -> None:
    from ipaddress import ip_network

    settings = get_settings()
    direct = create_app(settings)
    assert await _recorded_ip(direct, session, "203.0.113.9", "1.2.3.4") == "203.0.113.9"
    behind = create_app(
        settings.model_copy(
            update={
                "api": settings.api.model_copy(
                    update={"trusted_proxies": [ip_network("10.0.0.0/8"), ip_network("::1/128")]}
                )
            }
        )
    )
    assert await _recorded_ip(behind, session, "203.0.113.9", "1.2.3.4") == "203.0.113.9"
    assert await _recorded_ip(behind, session, "10.0.0.2", "1.2.3.4") == "1.2.3.4"
    # The client may prepend anything; only the hop our proxy appended counts.
    assert await _recorded_ip(behind, session, "10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7") == (
        "1.2.3.4"
    )
    assert await _recorded_ip(behind, session, "10.0.0.2", "10.0.0.3") == "10.0.0.3"
    assert await _recorded_ip(behind, session, "::1", "2001:db8::1") == "2001:db8::1"
    assert client_ip(Request({"type": "http", "headers": [], "client": None})) is None
    assert client_ip(_request("10.0.0.2")) == "10.0.0.2"


async def test_ipv6_clients_share_the_budget_of_their_64(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, "rate_limits", auth_requests_per_ip=2)
    site = uuid.uuid4().int & 0xFFFF
    prefix, neighbour = f"2001:db8:{site:x}:1", f"2001:db8:{site:x}:2"
    await ratelimit.limit_auth_ip(_request(f"{prefix}::1"))
    await ratelimit.limit_auth_ip(_request(f"{prefix}:aaaa:bbbb:cccc:dddd"))
    with pytest.raises(TooManyRequests):
        await ratelimit.limit_auth_ip(_request(f"{prefix}::2"))
    await ratelimit.limit_auth_ip(_request(f"{neighbour}::1"))
    # IPv4 addresses, plain or mapped into IPv6, are counted one by one.
    assert ratelimit.address_key("203.0.113.9") == "203.0.113.9"
    assert ratelimit.address_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert ratelimit.address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ratelimit.address_key(None) == "unknown"


async def test_disabled_limits_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, "rate_limits", enabled=False)
    assert await ratelimit.limit_principal("user:x") is None
    await ratelimit.reserve_login_attempt("a@example.com")
    await ratelimit.clear_login_failures("a@example.com")


async def test_without_redis_the_principal_limit_opens_and_login_limits_close(
    redis_down: RedisServer,
) -> None:
    assert await ratelimit.limit_principal(f"user:{uuid.uuid4()}") is None
    with pytest.raises(ServiceUnavailable):
        await ratelimit.reserve_login_attempt("a@example.com")
    await ratelimit.clear_login_failures("a@example.com")


async def test_checks_after_a_redis_restart_still_count(redis_server: RedisServer) -> None:
    """A pooled connection from before a restart fails once; the check takes a new one
    instead of letting the request through uncounted or refusing a login."""
    key = f"user:{uuid.uuid4()}"
    assert await ratelimit.limit_principal(key) is not None  # the pool holds a connection now
    redis_server.stop()
    redis_server.start()

    counted = await ratelimit.limit_principal(key)

    assert counted is not None
    assert counted.remaining == get_settings().rate_limits.requests_per_principal - 1
    await ratelimit.reserve_login_attempt(f"{uuid.uuid4()}@example.com")
