"""Outbox subscribers loaded only by the test workers: they record what they received."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.events import subscriber
from ticketcreator.core.tasks import celery_app


@subscriber("probe.ping")
async def record(session: AsyncSession, message: dict[str, Any]) -> None:
    """Nothing to do: the worker's deduplication row is the observable delivery."""


@subscriber("probe.fragile")
async def fragile(session: AsyncSession, message: dict[str, Any]) -> None:
    """Runs as the payload says, then counts its effect in the event's own payload (in the
    delivery's transaction): ``sleep`` seconds first, and an ``OSError`` on the first
    ``fail_times`` runs (runs are counted in Redis, outside any transaction); ``die`` kills
    the worker process running it, as a crash or the out-of-memory killer would."""
    import asyncio
    import os
    import signal

    import redis.asyncio as aioredis

    from ticketcreator.core.config import get_settings

    payload = message["payload"]
    client = aioredis.Redis.from_url(get_settings().redis.url)
    try:
        runs = int(await client.incr(f"probe:runs:{message['id']}"))
    finally:
        await client.aclose()
    if payload.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.sleep(float(payload.get("sleep", 0)))
    if runs <= int(payload.get("fail_times", 0)):
        raise OSError(f"image file is truncated (run {runs})")
    await session.execute(
        text(
            "UPDATE outbox_event SET payload = jsonb_set(payload, '{effects}', "
            "to_jsonb(COALESCE((payload->>'effects')::int, 0) + 1)) WHERE id = :id"
        ),
        {"id": message["id"]},
    )


@celery_app.task(name="probe.die")  # type: ignore[untyped-decorator]
def die(counter: str) -> None:
    """A plain task that counts its run in Redis and kills the worker process running it."""
    import os
    import signal

    import redis

    from ticketcreator.core.config import get_settings

    redis.Redis.from_url(get_settings().redis.url).incr(counter)
    os.kill(os.getpid(), signal.SIGKILL)
