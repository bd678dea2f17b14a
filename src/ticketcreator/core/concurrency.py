"""Caps on work in flight per caller, kept in Redis so every API replica shares them.

A slot is a member of a sorted set scored by its lease's end. Taking one (a Lua script, atomic
with Redis's clock) first drops lapsed leases, so a process that died holding slots frees them
once their leases end; the holder renews its lease while it works. Like the principal rate
limit, a cap protects capacity: with Redis unreachable the work is let through.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from ticketcreator.core.errors import TooManyRequests
from ticketcreator.core.ratelimit import LUA_NOW_MS, get_limiter

log = logging.getLogger(__name__)

KEY_PREFIX = "inflight:"

_ACQUIRE = (
    LUA_NOW_MS
    + """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local count = redis.call('ZCARD', key)
if count >= limit then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, count, tonumber(first[2]) - now}
end
redis.call('ZADD', key, now + lease, ARGV[3])
redis.call('PEXPIRE', key, lease)
return {1, count + 1, 0}
"""
)

_RENEW = (
    LUA_NOW_MS
    + """
local key = KEYS[1]
local lease = tonumber(ARGV[1])
if redis.call('ZADD', key, 'XX', 'CH', now + lease, ARGV[2]) == 1 then
  redis.call('PEXPIRE', key, lease)
end
return 1
"""
)

# A refused caller may try again this soon; slots free up as uploads finish.
RETRY_AFTER_S = 5


class Slot:
    """One taken slot; :meth:`renew` extends its lease at most every third of it."""

    def __init__(self, key: str, member: str, lease_s: float) -> None:
        self.key = key
        self.member = member
        self.lease_s = lease_s
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        if time.monotonic() - self._renewed < self.lease_s / 3:
            return
        self._renewed = time.monotonic()
        limiter = get_limiter()
        try:
            await limiter.client.eval(
                _RENEW, 1, self.key, math.ceil(self.lease_s * 1000), self.member
            )
        except RedisError as exc:
            log.warning(
                "concurrency store unreachable; lease not renewed", extra={"error": str(exc)}
            )


@asynccontextmanager
async def slot(name: str, limit: int, lease_s: float, detail: str) -> AsyncIterator[Slot | None]:
    """Hold one of ``limit`` slots of ``name`` for the block; 429 when all are taken."""
    key = KEY_PREFIX + name
    member = uuid.uuid4().hex
    client = get_limiter().client
    try:
        taken, count, _ = await client.eval(
            _ACQUIRE, 1, key, limit, math.ceil(lease_s * 1000), member
        )
    except RedisError as exc:
        log.warning("concurrency store unreachable; work allowed", extra={"error": str(exc)})
        yield None
        return
    if not taken:
        raise TooManyRequests(
            detail,
            headers={"Retry-After": str(RETRY_AFTER_S)},
            retry_after_s=RETRY_AFTER_S,
            in_flight=int(count),
            limit=limit,
        )
    try:
        yield Slot(key, member, lease_s)
    finally:
        try:
            await client.zrem(key, member)
        except RedisError as exc:
            log.warning(
                "concurrency store unreachable; slot left to lapse", extra={"error": str(exc)}
            )
