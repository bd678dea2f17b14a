"""Rate limits kept in Redis, so every API replica counts against the same budget.

Algorithm: a sliding-window log. Each key is a sorted set of the accepted requests' times;
one Lua script drops entries older than the window, counts the rest and, if the count is
under the limit, records the new request, all atomically inside Redis with Redis's own clock.
Concurrent requests therefore can never overshoot (100 simultaneous requests against a limit
of 50 let exactly 50 through), and unlike a fixed window there is no boundary at which a
client gets twice its budget. Rejected requests are not recorded, so a client that keeps
hammering regains capacity as soon as its old requests leave the window. Memory is one
sorted-set entry per accepted request in the window (at most ``limit`` per key).

Three limits use it (numbers in ``rate_limits`` settings):

* per principal (user or API key) on every authenticated route, through ``Authorizer``. A
  round trip to Redis per request cost a sixth of a ticket GET's CPU, so a process busy with
  one principal takes a few of its requests at once (a lease, :meth:`RateLimiter.take`): the
  script records them all, and the process admits that many without asking again for up to
  a second. A lease holds at most half a second of the principal's recent requests in this
  process (at most 16), and never more than a quarter of what is left of the budget: a
  principal that sends one request at a time, or is near its limit, is counted one request
  per round trip, exactly as before. Leased requests a process does not use in time stay
  counted: the budget is never overshot, and a principal may be refused up to a lease early;
* per client address on the authentication endpoints (sign-up, login, accept invitation);
* failed logins per account: a login reserves an attempt before the password is checked,
  and a successful login clears the account's record;
* refresh per session (token family): a valid refresh token counts against its own session,
  never against the address, so one office behind NAT (or someone sending junk from it)
  cannot lock its colleagues out; tokens that match no session count against the address.

Addresses are IPv4 addresses or IPv6 /64 networks: one IPv6 host usually owns a whole /64
and could otherwise take a fresh budget with every address of it.

When Redis is unreachable the principal limit lets requests through (it protects capacity,
and the API should not go down with its cache), while the authentication limits refuse with
503: they are the brute-force protection, and failing open would switch it off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address, ip_network

import redis.asyncio as aioredis
from fastapi import Request
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import ServiceUnavailable, TooManyRequests
from ticketcreator.core.leases import LEASED_KEYS, Lease
from ticketcreator.core.middleware import answer_with

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit:"

# Lua: ``now``, Redis's own clock in milliseconds (every replica agrees on it).
LUA_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# The sliding window: records up to ARGV[4] requests at once (one for a plain check, more for
# a lease): as many as asked, but at most a quarter of what the window has left, and at least
# one while it has room. Returns {requests recorded, requests in the window, ms to reset}.
_SLIDING_WINDOW = (
    LUA_NOW_MS
    + """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wanted = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local granted = 0
if count < limit then
  granted = math.max(1, math.min(wanted, math.floor((limit - count) / 4)))
  local members = {}
  for i = 1, granted do
    members[#members + 1] = now
    members[#members + 1] = ARGV[3] .. ':' .. i
  end
  redis.call('ZADD', key, unpack(members))
  count = count + granted
end
redis.call('PEXPIRE', key, window)
local reset = window
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
return {granted, count, reset}
"""
)


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one check, in the terms of the IETF RateLimit header fields draft."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    window_s: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }

    def exceeded(self, detail: str) -> TooManyRequests:
        return TooManyRequests(
            detail,
            headers={**self.headers(), "Retry-After": str(self.reset_s)},
            retry_after_s=self.reset_s,
        )


class RateLimiter:
    """Sliding-window counters in one Redis database."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_SLIDING_WINDOW)
        self._leases: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, OrderedDict[str, Lease]
        ] = weakref.WeakKeyDictionary()

    async def hit(self, key: str, limit: int, window_s: int) -> RateLimitResult:
        """Count one request against ``key``; ``allowed`` is False when over the limit."""
        allowed, count, reset_ms = await self._script(
            keys=[KEY_PREFIX + key], args=[limit, window_s * 1000, uuid.uuid4().hex, 1]
        )
        return RateLimitResult(
            allowed=bool(allowed),
            limit=limit,
            remaining=max(limit - int(count), 0),
            reset_s=max(math.ceil(int(reset_ms) / 1000), 1),
            window_s=window_s,
        )

    async def take(self, key: str, limit: int, window_s: int) -> RateLimitResult:
        """Count one request against ``key`` like :meth:`hit`, from this process's lease on
        the key when it holds one (see the module's notes)."""
        loop = asyncio.get_running_loop()
        leases = self._leases.setdefault(loop, OrderedDict())
        lease = leases.get(key)
        if lease is None:
            lease = leases[key] = Lease()
            if len(leases) > LEASED_KEYS:
                leases.popitem(last=False)
        leases.move_to_end(key)
        if lease.serving is None and lease.tokens > 0 and time.monotonic() < lease.until:
            return self._admit(lease, limit, window_s)
        # First come, first served: the requests that arrive while Redis is asked wait for
        # that answer together, and are all admitted (or refused) from it at once.
        waiter: asyncio.Future[RateLimitResult] = loop.create_future()
        lease.queue.append(waiter)
        if lease.serving is None:
            lease.serving = loop.create_task(self._serve(key, limit, window_s, lease))
        return await asyncio.shield(waiter)

    async def _serve(self, key: str, limit: int, window_s: int, lease: Lease) -> None:
        """Admit the queued requests in order, asking Redis for leases while they last."""
        try:
            while lease.queue:
                now = time.monotonic()
                if lease.tokens <= 0 or now >= lease.until:
                    try:
                        granted, count, reset_ms = await self._script(
                            keys=[KEY_PREFIX + key],
                            args=[
                                limit,
                                window_s * 1000,
                                uuid.uuid4().hex,
                                lease.wanted(now, len(lease.queue)),
                            ],
                        )
                    except Exception as exc:
                        self._answer(lease, exc)
                        return
                    lease.renew(int(granted), int(count), int(reset_ms), now)
                    if not lease.tokens:  # the window is full: so for every request waiting
                        self._answer(lease, self._result(False, limit, window_s, count, lease))
                        return
                while lease.queue and lease.tokens > 0:
                    waiter = lease.queue.popleft()
                    if not waiter.done():
                        waiter.set_result(self._admit(lease, limit, window_s))
        finally:
            lease.serving = None

    @staticmethod
    def _answer(lease: Lease, answer: RateLimitResult | BaseException) -> None:
        """Give every queued request the same answer."""
        while lease.queue:
            waiter = lease.queue.popleft()
            if waiter.done():
                continue
            if isinstance(answer, BaseException):
                waiter.set_exception(answer)
            else:
                waiter.set_result(answer)

    def _admit(self, lease: Lease, limit: int, window_s: int) -> RateLimitResult:
        lease.tokens -= 1
        lease.admitted += 1
        return self._result(True, limit, window_s, lease.count - lease.tokens, lease)

    @staticmethod
    def _result(
        allowed: bool, limit: int, window_s: int, used: int, lease: Lease
    ) -> RateLimitResult:
        return RateLimitResult(
            allowed=allowed,
            limit=limit,
            remaining=max(limit - used, 0),
            reset_s=max(math.ceil(lease.reset_ms / 1000), 1),
            window_s=window_s,
        )

    async def reset(self, key: str) -> None:
        await self.client.delete(KEY_PREFIX + key)


_limiters: dict[int, RateLimiter] = {}


def get_limiter() -> RateLimiter:
    """The limiter of this process (a forked worker builds its own connection pool)."""
    pid = os.getpid()
    limiter = _limiters.get(pid)
    if limiter is None:
        cfg = get_settings().redis
        client = aioredis.Redis.from_url(
            cfg.url,
            socket_timeout=cfg.socket_timeout_s,
            socket_connect_timeout=cfg.socket_timeout_s,
            # A pooled connection from before a Redis restart fails once: one immediate retry
            # on a new connection. No more: with Redis down, a check must fail fast.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        limiter = _limiters[pid] = RateLimiter(client)
    return limiter


def client_ip(request: Request) -> str | None:
    """The caller's address. Behind the proxies of ``api.trusted_proxies``, uvicorn's proxy
    headers middleware (installed by the app) has already put the client named in
    ``X-Forwarded-For`` there: the first hop from the right that is not one of our proxies."""
    host = request.client.host if request.client else None
    if host is None:
        return None
    try:
        ip_address(host)
    except ValueError:
        return None  # something that is not an address, forwarded by our proxy
    return host


def address_key(address: str | None) -> str:
    """The budget an address counts against: the IPv4 address, or the IPv6 /64 network."""
    if address is None:
        return "unknown"
    try:
        ip = ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def limit_principal(rate_key: str) -> RateLimitResult | None:
    """Count one request of an authenticated caller; None when limits are off or unreachable."""
    cfg = get_settings().rate_limits
    if not cfg.enabled:
        return None
    try:
        result = await get_limiter().take(
            f"principal:{rate_key}", cfg.requests_per_principal, cfg.principal_window_s
        )
    except RedisError as exc:
        log.warning("rate limit store unreachable; request allowed", extra={"error": str(exc)})
        return None
    if not result.allowed:
        raise result.exceeded("Too many requests for this user or API key; slow down.")
    return result


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Sign-in is temporarily unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


async def _limit_auth(key: str, limit: int, detail: str) -> RateLimitResult | None:
    """One authentication budget; refuses (503) when the store is unreachable."""
    cfg = get_settings().rate_limits
    if not cfg.enabled:
        return None
    try:
        result = await get_limiter().hit(key, limit, cfg.auth_window_s)
    except RedisError:
        log.warning("rate limit store unreachable; authentication refused")
        raise _unavailable() from None
    if not result.allowed:
        raise result.exceeded(detail)
    return result


async def limit_auth_ip(request: Request) -> None:
    """Route dependency: the per-address budget of the authentication endpoints."""
    result = await _limit_auth(
        f"auth-ip:{address_key(client_ip(request))}",
        get_settings().rate_limits.auth_requests_per_ip,
        "Too many authentication requests from your address.",
    )
    if result is not None:
        answer_with(request, result.headers())


async def limit_refresh_session(session_id: uuid.UUID) -> None:
    """Count one refresh of a session (all tokens issued from one login share it)."""
    await _limit_auth(
        f"refresh-session:{session_id}",
        get_settings().rate_limits.refreshes_per_session,
        "Too many refreshes of this session; try again later.",
    )


async def limit_unknown_refresh(address: str | None) -> None:
    """Count one refresh with a token that matches no session against the address."""
    await _limit_auth(
        f"refresh-ip:{address_key(address)}",
        get_settings().rate_limits.auth_requests_per_ip,
        "Too many invalid refresh tokens from your address.",
    )


def _account_key(email: str) -> str:
    # Hashed so the rate-limit store holds no e-mail addresses.
    return "login-failures:" + hashlib.sha256(email.lower().encode()).hexdigest()


async def reserve_login_attempt(email: str) -> None:
    """Reserve one failed-login slot of the account before its password is checked.

    Reserving first (rather than counting after a failure) keeps the limit exact when many
    guesses arrive at once. Unknown addresses are limited the same way, so the answer does
    not reveal which accounts exist.
    """
    await _limit_auth(
        _account_key(email),
        get_settings().rate_limits.failed_logins_per_account,
        "Too many failed logins for this account; try again later.",
    )


async def clear_login_failures(email: str) -> None:
    """Forget the account's failed attempts after a successful login."""
    if not get_settings().rate_limits.enabled:
        return
    try:
        await get_limiter().reset(_account_key(email))
    except RedisError:
        log.warning("rate limit store unreachable; failed logins not cleared")
