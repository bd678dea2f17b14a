"""Transactional outbox: domain events stored with the change, delivered after commit.

:func:`emit` adds an ``outbox_event`` row in the caller's transaction, so an event exists if
and only if its change was committed. Delivery hands each event to the Celery task of every
subscriber of its topic. It runs twice over: right after the request's commit (fast path) and
from the periodic ``outbox.relay`` task (slow path), which picks up whatever the fast path
could not send, e.g. while the broker was down. Rows are claimed with ``FOR UPDATE SKIP
LOCKED``, so concurrent relays never send the same row at once; delivery is at-least-once,
and subscribers deduplicate on the event id (:func:`mark_processed`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import DateTime, Index, Integer, String, Text, delete, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, after_commit, session_factory, utcnow

log = logging.getLogger(__name__)


class OutboxEvent(Base):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index(
            "ix_outbox_event_pending",
            "created_at",
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    topic: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedEvent(Base):
    """Which subscriber has handled which event: makes redelivery harmless."""

    __tablename__ = "processed_event"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Subscription:
    topic: str
    task_name: str
    queue: str


class Subscribers:
    """Topic → Celery tasks. Filled by the task modules at import time."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Subscription]] = {}

    def add(self, topic: str, task_name: str, queue: str) -> None:
        subscriptions = self._by_topic.setdefault(topic, [])
        if not any(sub.task_name == task_name for sub in subscriptions):
            subscriptions.append(Subscription(topic, task_name, queue))

    def for_topic(self, topic: str) -> Sequence[Subscription]:
        return [*self._by_topic.get(topic, ()), *self._by_topic.get("*", ())]


subscribers = Subscribers()


class Publisher(Protocol):
    """Hands one message to the broker; the Celery implementation lives in the worker."""

    def publish(self, subscription: Subscription, message: dict[str, Any]) -> None: ...


_publisher: Publisher | None = None


def set_publisher(publisher: Publisher) -> None:
    global _publisher
    _publisher = publisher


def get_publisher() -> Publisher:
    if _publisher is None:
        from ticketcreator.worker import CeleryPublisher

        set_publisher(CeleryPublisher())
    assert _publisher is not None
    return _publisher


def emit(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    organization_id: uuid.UUID | None = None,
) -> OutboxEvent:
    """Record an event in the caller's transaction; it is delivered after commit."""
    event = OutboxEvent(
        id=uuid.uuid4(),
        topic=topic,
        organization_id=organization_id,
        payload=payload,
        created_at=utcnow(),
        attempts=0,
    )
    session.add(event)
    pending: list[uuid.UUID] = session.info.setdefault("outbox_pending", [])
    if not pending:

        async def deliver_pending() -> None:
            await deliver(list(pending))
            pending.clear()

        after_commit(session, deliver_pending)
    pending.append(event.id)
    return event


def message_of(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "topic": event.topic,
        "organization_id": str(event.organization_id) if event.organization_id else None,
        "occurred_at": event.created_at.isoformat(),
        "payload": event.payload,
    }


async def deliver(event_ids: list[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Send pending events (the given ones, or the oldest ``limit``); returns how many went.

    Stops at the first broker failure: the rest stay pending for the next relay run. The
    broker client is synchronous, so publishing runs in a worker thread and never blocks
    the event loop.
    """
    publisher = get_publisher()
    sent = 0
    async with session_factory()() as session:
        query = (
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if event_ids is not None:
            query = query.where(OutboxEvent.id.in_(event_ids))
        for event in (await session.scalars(query)).all():
            message = message_of(event)
            event.attempts += 1
            try:
                await asyncio.to_thread(_publish_all, publisher, event.topic, message)
            except Exception as exc:  # the broker is down or refused: retry on the next relay
                event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                log.warning(
                    "outbox delivery failed; will retry",
                    extra={"event_id": str(event.id), "topic": event.topic, "error": str(exc)},
                )
                break
            event.dispatched_at = utcnow()
            event.last_error = None
            sent += 1
        await session.commit()
    return sent


def _publish_all(publisher: Publisher, topic: str, message: dict[str, Any]) -> None:
    for subscription in subscribers.for_topic(topic):
        publisher.publish(subscription, message)


async def purge_delivered(retention: timedelta) -> int:
    """Delete delivered events older than ``retention``."""
    async with session_factory()() as session:
        result = await session.execute(
            delete(OutboxEvent).where(OutboxEvent.dispatched_at < utcnow() - retention)
        )
        await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_processed(session: AsyncSession, event_id: uuid.UUID, handler: str) -> bool:
    """Record that ``handler`` handled the event; False if it already had (a redelivery)."""
    result = await session.execute(
        insert(ProcessedEvent)
        .values(event_id=event_id, handler=handler, processed_at=utcnow())
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.event_id)
    )
    return result.first() is not None


def ids_only(payload: dict[str, Any]) -> dict[str, Any]:
    """An event payload without its content: only the ids it names (``*_id``, ``*_ids``)."""
    kept = {key: value for key, value in payload.items() if key.endswith(("_id", "_ids"))}
    return {**kept, "scrubbed": True}


async def scrub(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    ticket_id: uuid.UUID,
    attachment_ids: Sequence[uuid.UUID] = (),
) -> int:
    """Reduce the stored events about a ticket and its attachments to ids (see
    :func:`ids_only`), delivered or not: subscribers load what they need by id, so a pending
    one still runs (and finds the ticket gone). Returns how many events were scrubbed.

    Used when a ticket is purged; a scan of the organization's retained events (purges are
    rare, the retention short).
    """
    about = [OutboxEvent.payload["ticket_id"].astext == str(ticket_id)]
    if attachment_ids:
        about.append(
            OutboxEvent.payload["attachment_id"].astext.in_([str(i) for i in attachment_ids])
        )
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.organization_id == organization_id, or_(*about))
        .with_for_update()
    )
    events = (await session.scalars(query)).all()
    for event in events:
        event.payload = ids_only(event.payload)
    return len(events)
