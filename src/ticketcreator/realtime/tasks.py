"""Worker side of the real-time stream: every streamed topic's events are offered to it."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.events import subscriber
from ticketcreator.core.tasks import RetriableError
from ticketcreator.realtime import publisher
from ticketcreator.realtime.events import STREAMED


@subscriber(sorted(STREAMED))
async def stream_event(session: AsyncSession, message: dict[str, Any]) -> None:
    """Put the event on the organization's stream."""
    try:
        await publisher.publish(session, message)
    except RedisError as exc:
        raise RetriableError(f"Redis unavailable: {exc}") from exc
