"""Running one delivery of an outbox event in its subscriber task: claim, work, then done,
retried or dead (steps 3 to 5 of :mod:`ticketcreator.core.outbox`)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.core.outbox import DEAD, DONE, PENDING, ProcessedEvent, Subscription

log = logging.getLogger(__name__)


async def handle(
    message: dict[str, Any],
    subscriber: str,
    queue: str,
    work: Callable[[AsyncSession, dict[str, Any]], Awaitable[None]],
) -> None:
    """Run one delivery of ``message`` to ``subscriber`` (the body of every subscriber task)."""
    event_id = uuid.UUID(message["id"])
    attempt = await _claim(event_id, subscriber, queue, message.get("delivery"))
    if attempt is None:
        return
    try:
        async with session_factory()() as session:
            delivery = await session.get(
                ProcessedEvent, (event_id, subscriber), with_for_update=True, populate_existing=True
            )
            if delivery is None or delivery.state != PENDING or delivery.attempts != attempt:
                return  # another copy claimed it after this one, or it finished meanwhile
            await work(session, message)
            delivery.state = DONE
            delivery.processed_at = utcnow()
            delivery.next_attempt_at = None
            delivery.last_error = None
            await commit(session)
    except Exception as exc:
        await _failed(message, subscriber, attempt, exc)


def _max_attempts() -> int:
    return get_settings().celery.default_max_retries + 1


async def _claim(event_id: uuid.UUID, subscriber: str, queue: str, sent: int | None) -> int | None:
    """Count a run of the delivery; None when this copy must not run (done, dead, stale,
    running elsewhere, or dead-lettered now because earlier runs never finished)."""
    async with session_factory()() as session:
        key = (ProcessedEvent.event_id == event_id, ProcessedEvent.handler == subscriber)
        query = select(ProcessedEvent).where(*key).with_for_update(skip_locked=True)
        delivery = await session.scalar(query)
        if delivery is None:
            if await session.scalar(select(exists().where(*key))):
                return None  # locked: a copy is running
            # A message without a recorded delivery (sent before deliveries were recorded).
            await session.execute(
                insert(ProcessedEvent)
                .values(event_id=event_id, handler=subscriber, id=uuid.uuid4(), queue=queue)
                .on_conflict_do_nothing()
            )
            delivery = await session.scalar(query)
            if delivery is None:
                return None
        if delivery.state != PENDING or (sent is not None and sent < delivery.sends):
            return None
        if delivery.attempts >= _max_attempts():
            reason = (
                f"WorkerLost: {delivery.attempts} runs did not finish (worker killed, out of "
                f"memory or over its time limit); last error: {delivery.last_error or 'none'}"
            )
            _dead(delivery, reason[:2000])
            await session.commit()
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = utcnow() + outbox.redeliver_after(delivery.sends)
        attempt = delivery.attempts
        await session.commit()
    return attempt


def _dead(delivery: ProcessedEvent, error: str) -> None:
    delivery.state = DEAD
    delivery.last_error = error
    delivery.processed_at = utcnow()
    delivery.next_attempt_at = None
    log.error(
        "event delivery dead-lettered",
        extra={
            "delivery_id": str(delivery.id),
            "event_id": str(delivery.event_id),
            "subscriber": delivery.handler,
            "attempts": delivery.attempts,
            "error": error,
        },
    )


def retry_delay(attempt: int, defer_seconds: float | None = None) -> float:
    """Seconds before the next run after ``attempt`` failed: exponential with jitter."""
    if defer_seconds is not None:
        return defer_seconds
    settings = get_settings()
    ceiling = min(
        settings.outbox.retry_backoff_s * 2 ** (attempt - 1), settings.celery.retry_backoff_max_s
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


async def _failed(message: dict[str, Any], subscriber: str, attempt: int, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    event_id = uuid.UUID(message["id"])
    async with session_factory()() as session:
        delivery = await session.get(
            ProcessedEvent, (event_id, subscriber), with_for_update=True, populate_existing=True
        )
        if delivery is None or delivery.state != PENDING or delivery.attempts != attempt:
            return
        retry: tuple[Subscription, dict[str, Any]] | None = None
        if attempt >= _max_attempts():
            _dead(delivery, error)
        else:
            delay = retry_delay(attempt, getattr(exc, "defer_seconds", None))
            delivery.last_error = error
            delivery.sends += 1
            delivery.next_attempt_at = (
                utcnow() + timedelta(seconds=delay) + outbox.redeliver_after(delivery.sends)
            )
            subscription = Subscription(message["topic"], subscriber, delivery.queue)
            retry = (subscription, {**message, "delivery": delivery.sends})
            log.warning(
                "event delivery failed; will retry",
                extra={
                    "event_id": message["id"],
                    "topic": message["topic"],
                    "subscriber": subscriber,
                    "attempt": attempt,
                    "retry_in_s": round(delay, 1),
                    "error": error,
                },
            )
        await session.commit()
    if retry is not None:  # handed over now, to run after the delay; else the relay sends it
        try:
            await asyncio.to_thread(outbox.publish, *retry, delay)
        except Exception as publish_error:
            await outbox.unsent([retry], publish_error)
