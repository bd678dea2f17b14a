"""Slots in Redis: a cap on work in flight that lapses when its holder stops renewing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.services import RedisServer
from ticketcreator.core import concurrency
from ticketcreator.core.errors import TooManyRequests


async def test_a_renewed_slot_stays_taken_and_a_lapsed_one_frees_itself(
    redis_server: RedisServer,
) -> None:
    name = f"test:{uuid.uuid4()}"
    async with concurrency.slot(name, 1, lease_s=0.6, detail="busy") as held:
        assert held is not None
        for _ in range(4):  # 1.2 s: twice the lease, renewed on the way
            await asyncio.sleep(0.3)
            await held.renew()
        with pytest.raises(TooManyRequests) as refused:
            async with concurrency.slot(name, 1, lease_s=0.6, detail="busy"):
                pass
        assert refused.value.headers["Retry-After"] == str(concurrency.RETRY_AFTER_S)
        await asyncio.sleep(0.8)  # not renewed: the lease lapses, as if the holder had died
        async with concurrency.slot(name, 1, lease_s=0.6, detail="busy") as other:
            assert other is not None
    async with concurrency.slot(name, 1, lease_s=0.6, detail="busy") as again:
        assert again is not None  # released on exit


async def test_without_redis_work_is_let_through(redis_down: RedisServer) -> None:
    async with concurrency.slot(f"test:{uuid.uuid4()}", 1, lease_s=1, detail="busy") as held:
        assert held is None
    slot = concurrency.Slot(f"{concurrency.KEY_PREFIX}test", "member", lease_s=0)
    await slot.renew()  # logged, not raised
