"""Worker side of the real-time stream: every outbox event is offered to it."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.realtime import publisher
from ticketcreator.worker import RetriableError, subscriber


@subscriber("*")
async def stream_event(session: AsyncSession, message: dict[str, Any]) -> None:
    """Put the event on the organization's stream (if it is streamed)."""
    try:
        await publisher.publish(session, message)
    except RedisError as exc:
        raise RetriableError(f"Redis unavailable: {exc}") from exc
