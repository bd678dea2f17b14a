"""Running one delivery of an outbox event in its subscriber task: claim a lease, work, then
done, retried or dead (steps 3 to 5 of :mod:`ticketcreator.core.outbox`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.core.outbox import DEAD, DONE, PENDING, ProcessedEvent, Subscription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A run's lease on a delivery: only its holder may finish the delivery."""

    event_id: uuid.UUID
    subscriber: str
    token: uuid.UUID
    attempt: int

    def key(self) -> tuple[ColumnElement[bool], ...]:
        """The delivery, if still pending and leased to this run."""
        return (
            ProcessedEvent.event_id == self.event_id,
            ProcessedEvent.handler == self.subscriber,
            ProcessedEvent.lease == self.token,
            ProcessedEvent.state == PENDING,
        )


async def handle(
    message: dict[str, Any],
    subscriber: str,
    queue: str,
    work: Callable[[AsyncSession, dict[str, Any]], Awaitable[None]],
) -> None:
    """Run one delivery of ``message`` to ``subscriber`` (the body of every subscriber task)."""
    claim = await _claim(uuid.UUID(message["id"]), subscriber, queue, message.get("delivery"))
    if claim is None:
        return
    finished = asyncio.Event()
    keeper = asyncio.create_task(_keep(claim, finished))
    try:
        async with session_factory()() as session:
            try:
                await work(session, message)
            finally:
                finished.set()
                await keeper
            if not await _finish(session, claim):
                await session.rollback()
                log.warning(
                    "event delivery run discarded: its lease was lost",
                    extra={"event_id": message["id"], "subscriber": subscriber},
                )
                return
            await commit(session)
    except Exception as exc:
        await _failed(message, claim, exc)


def _max_attempts() -> int:
    return get_settings().celery.default_max_retries + 1


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().outbox.lease_s)


async def _claim(
    event_id: uuid.UUID, subscriber: str, queue: str, sent: int | None
) -> Claim | None:
    """Lease the delivery to this run and count the run, in a short transaction of its own;
    None when this copy must not run (done, dead, stale, leased to a run, or dead-lettered
    now because earlier runs never finished)."""
    async with session_factory()() as session:
        key = (ProcessedEvent.event_id == event_id, ProcessedEvent.handler == subscriber)
        query = select(ProcessedEvent).where(*key).with_for_update()
        delivery = await session.scalar(query)
        if delivery is None:  # a message sent before deliveries were recorded
            await session.execute(
                insert(ProcessedEvent)
                .values(event_id=event_id, handler=subscriber, id=uuid.uuid4(), queue=queue)
                .on_conflict_do_nothing()
            )
            delivery = await session.scalar(query)
            if delivery is None:
                return None
        now = utcnow()
        if delivery.state != PENDING or (sent is not None and sent < delivery.sends):
            return None
        if delivery.leased_until is not None and delivery.leased_until > now:
            return None  # a run holds it
        if delivery.attempts >= _max_attempts():
            reason = (
                f"WorkerLost: {delivery.attempts} runs did not finish (worker killed, out of "
                f"memory or over its time limit); last error: {delivery.last_error or 'none'}"
            )
            _dead(delivery, reason[:2000])
            await session.commit()
            return None
        claim = Claim(event_id, subscriber, uuid.uuid4(), delivery.attempts + 1)
        delivery.attempts = claim.attempt
        delivery.lease = claim.token
        delivery.leased_until = now + _lease()
        # Not handed over again while the lease holds; at once when it expired unrenewed.
        delivery.next_attempt_at = delivery.leased_until
        await session.commit()
    return claim


async def _keep(claim: Claim, finished: asyncio.Event) -> None:
    """Renew the lease every third of its length until the run finished or lost it."""
    lease = _lease()
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lease.total_seconds() / 3):
                await finished.wait()
                return
        until = utcnow() + lease
        try:
            async with session_factory()() as session:
                renewed = await session.execute(
                    update(ProcessedEvent)
                    .where(*claim.key())
                    .values(leased_until=until, next_attempt_at=until)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        except Exception:  # the database is away: the next renewal may succeed
            log.warning("event delivery lease not renewed", exc_info=True)
            continue
        if not renewed.rowcount:  # type: ignore[attr-defined]
            return


async def _finish(session: AsyncSession, claim: Claim) -> bool:
    """Mark the delivery done in the run's transaction if the run still holds its lease."""
    result = await session.execute(
        update(ProcessedEvent)
        .where(*claim.key())
        .values(
            state=DONE,
            processed_at=utcnow(),
            next_attempt_at=None,
            last_error=None,
            lease=None,
            leased_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _dead(delivery: ProcessedEvent, error: str) -> None:
    delivery.state = DEAD
    delivery.last_error = error
    delivery.processed_at = utcnow()
    delivery.next_attempt_at = None
    delivery.lease = None
    delivery.leased_until = None
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


async def _failed(message: dict[str, Any], claim: Claim, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    subscriber, attempt = claim.subscriber, claim.attempt
    async with session_factory()() as session:
        query = select(ProcessedEvent).where(*claim.key()).with_for_update()
        delivery = await session.scalar(query)
        if delivery is None:
            return  # the lease was lost: the run that holds it now decides
        delivery.lease = None
        delivery.leased_until = None
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
