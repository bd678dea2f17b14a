"""Transactional outbox: domain events stored with the change, done once every subscriber has
handled them.

:func:`ticketcreator.core.events.emit` adds an ``outbox_event`` row in the caller's
transaction, so an event exists if and only if its change was committed; the subscribers of
its topic are those of :data:`ticketcreator.core.events.subscribers`.

Delivery guarantee: **every subscriber handles every committed event, and its effects are
committed exactly once**, whatever happens to the broker (Redis stopped, restarted without its
data, flushed) or to a worker (killed mid-task, out of memory, over its time limit). Unless the
subscriber fails on it every time: then the delivery ends *dead* (dead-lettered) after
``celery.default_max_retries`` retries, visible and replayable (see
:mod:`ticketcreator.deliveries`). How:

1. **Fan-out.** Right after the commit (:mod:`ticketcreator.core.handover`), and from the
   relay every ``outbox.relay_interval_s``, each new event gets one ``processed_event`` row per
   subscriber, state ``pending``, in one transaction with marking the event dispatched.
2. **Hand-over.** Each pending delivery that is due is handed to the broker as a Celery task
   message numbered with its ``sends`` count, and becomes due again ``outbox.redeliver_after_s``
   later (doubling on each further hand-over, up to an hour). A message the broker loses,
   or that a killed worker held, is thus sent again; the broker's own redeliveries are
   harmless too. Only the latest-numbered message runs; older copies are dropped.
3. **Claim.** The subscriber's task (:mod:`ticketcreator.core.consumer`) claims the delivery
   in its own short transaction: a lease (a token, valid ``outbox.lease_s``, renewed every
   third of that while the run lasts) and a counted run (``attempts``), so a run that kills
   its worker still counts: a delivery whose ``attempts`` reached the limit without
   finishing is dead-lettered instead of run again (``task_reject_on_worker_lost`` cannot
   redeliver a poison task forever). While the lease holds, another copy (a redelivery after
   the broker's visibility timeout, or a stale hand-over) is refused and the relay leaves the
   delivery alone; a killed worker's lease expires and the relay hands the delivery over
   again.
4. **Work.** The subscriber runs in a transaction of its own (none is open while it waits on
   a vendor) and sets the delivery ``done`` in that same transaction, only if it still holds
   the lease: its effects and ``done`` are committed together or not at all, and a run that
   lost its lease (expired, claimed by another run) is rolled back.
5. **Failure.** An exception rolls the work back and records the error; the delivery is
   handed over again to run after an exponential backoff with jitter
   (``outbox.retry_backoff_s`` doubling up to ``celery.retry_backoff_max_s``, or the error's
   ``defer_seconds``; the relay re-sends it if that message is lost), and is dead after the
   last retry (an ERROR log line ``event delivery dead-lettered``).

An event emitted with a delay (``deliver_at``) is fanned out at once, its deliveries due only
then: the relay hands them over.

Side effects outside the database (storage writes, e-mails, vendor calls) happen at least
once: subscribers write storage under deterministic keys and keep vendor calls idempotent.
Events, and the ``done`` rows of their deliveries, are purged ``outbox.retention_days`` after
they were dispatched; an event with a pending or dead delivery is kept for its replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import Base, session_factory, utcnow
from ticketcreator.core.tasks import celery_app

log = logging.getLogger(__name__)

PENDING, DONE, DEAD = "pending", "done", "dead"
_MAX_REDELIVER_DOUBLINGS = 6  # redeliver_after_s * 2**6: at most about an hour between sends
_broker_down_until = 0.0  # monotonic time until which this process leaves sending to the relay


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
    # When the event's deliveries (one per subscriber) were recorded.
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An event emitted with a delay: its deliveries are not handed over before.
    deliver_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often a delivery of the event was handed to the broker, and the broker's last refusal.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedEvent(Base):
    """One delivery: an event to one subscriber, ``pending`` until it is ``done`` or ``dead``."""

    __tablename__ = "processed_event"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'done', 'dead')", name="state"),
        Index(
            "ix_processed_event_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_processed_event_dead", "created_at", postgresql_where=text("state = 'dead'")),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)  # the subscriber task
    # Names the delivery in the API and the CLI.
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    queue: Mapped[str] = mapped_column(String(50), default="default")
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started
    # The running run's claim: only its holder may finish the delivery, until it expires.
    lease: Mapped[uuid.UUID | None]
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sends: Mapped[int] = mapped_column(Integer, default=0)  # hand-overs to the broker
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # done or dead


@dataclass(frozen=True)
class Subscription:
    """Where a topic's events go: a subscriber task and its queue."""

    topic: str
    task_name: str
    queue: str


# Subscribers of a topic (see :data:`ticketcreator.core.events.subscribers`).
Route = Callable[[str], Sequence[Subscription]]


def publish(
    subscription: Subscription, message: dict[str, Any], countdown: float | None = None
) -> None:
    """Hand one delivery to the broker as a Celery task; fails fast when the broker is down."""
    celery_app.send_task(
        subscription.task_name,
        args=[message],
        queue=subscription.queue,
        countdown=countdown,
        task_id=f"{message['id']}:{subscription.task_name}",
        retry=False,
    )


_SENT = ("id", "topic", "organization_id", "created_at", "payload")  # what a message shows


def message_of(event: OutboxEvent | Mapping[str, Any]) -> dict[str, Any]:
    """What a subscriber or a reaction receives of a stored event, or of the row of one just
    emitted (without its hand-over number)."""
    row = event if isinstance(event, Mapping) else {key: getattr(event, key) for key in _SENT}
    return {
        "id": str(row["id"]),
        "topic": row["topic"],
        "organization_id": str(row["organization_id"]) if row["organization_id"] else None,
        "occurred_at": row["created_at"].isoformat(),
        "payload": row["payload"],
    }


async def deliver(
    route: Route | None, event_ids: list[uuid.UUID] | None = None, limit: int = 200
) -> int:
    """Record the deliveries of new events to the subscribers ``route`` names (none when the
    process does not know them all: then the events wait for a process that does) and hand
    every due delivery to the broker (those of the given events, or the oldest ``limit`` due);
    returns how many were handed over.

    Stops at the first broker failure: the rest stay due for the next relay run, and for
    ``outbox.relay_interval_s`` this process leaves even the given events to the relay (a
    failing hand-over takes seconds). The broker client is synchronous, so publishing runs in
    a worker thread and never blocks the loop.
    """
    if route is not None:
        await _fan_out(route, event_ids, limit)
    if event_ids is not None and broker_down():
        return 0  # the broker just failed: the relay sends these, no request waits on it
    return await _send_due(event_ids, limit)


async def _fan_out(route: Route, event_ids: list[uuid.UUID] | None, limit: int) -> None:
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
        now = utcnow()
        for event in (await session.scalars(query)).all():
            rows = [
                {
                    "event_id": event.id,
                    "handler": sub.task_name,
                    "id": uuid.uuid4(),
                    "queue": sub.queue,
                    "state": PENDING,
                    "attempts": 0,
                    "sends": 0,
                    "next_attempt_at": max(now, event.deliver_at or now),
                    "created_at": now,
                }
                for sub in route(event.topic)
            ]
            if rows:
                await session.execute(insert(ProcessedEvent).values(rows).on_conflict_do_nothing())
            event.dispatched_at = now
        await session.commit()


def broker_down() -> bool:
    """Whether the broker failed this process in the last ``outbox.relay_interval_s``."""
    return time.monotonic() < _broker_down_until


def broker_failed() -> None:
    """For ``outbox.relay_interval_s``, this process leaves hand-overs to the relay."""
    global _broker_down_until
    _broker_down_until = time.monotonic() + get_settings().outbox.relay_interval_s


def redeliver_after(sends: int) -> timedelta:
    """How long a handed-over delivery waits for its run before it is handed over again."""
    doublings = min(max(sends - 1, 0), _MAX_REDELIVER_DOUBLINGS)
    return timedelta(seconds=get_settings().outbox.redeliver_after_s * 2**doublings)


async def _send_due(event_ids: list[uuid.UUID] | None, limit: int) -> int:
    """Take due deliveries (a running one is due only when its lease expired unrenewed), count
    the hand-over and commit before publishing, so the message's number is the latest."""
    async with session_factory()() as session:
        query = (
            select(ProcessedEvent, OutboxEvent)
            .join(OutboxEvent, OutboxEvent.id == ProcessedEvent.event_id)
            .where(ProcessedEvent.state == PENDING, ProcessedEvent.next_attempt_at <= func.now())
            .order_by(ProcessedEvent.next_attempt_at)
            .limit(limit)
            .with_for_update(of=ProcessedEvent, skip_locked=True)
        )
        if event_ids is not None:
            query = query.where(ProcessedEvent.event_id.in_(event_ids))
        batch: list[tuple[Subscription, dict[str, Any]]] = []
        now = utcnow()
        for delivery, event in (await session.execute(query)).all():
            delivery.sends += 1
            delivery.next_attempt_at = now + redeliver_after(delivery.sends)
            subscription = Subscription(event.topic, delivery.handler, delivery.queue)
            batch.append((subscription, {**message_of(event), "delivery": delivery.sends}))
        await session.commit()
    sent, refused = await asyncio.to_thread(_publish_all, batch) if batch else (0, None)
    if refused is not None:  # the broker is down or refused: due again at once
        await unsent(batch[sent:], refused)
    if sent:
        global _broker_down_until
        _broker_down_until = 0.0
        await _count_sends(batch[:sent])
    return sent


def _publish_all(batch: list[tuple[Subscription, dict[str, Any]]]) -> tuple[int, Exception | None]:
    """Publish in order until the broker refuses; how many went, and the refusal."""
    for sent, (subscription, message) in enumerate(batch):
        try:
            publish(subscription, message)
        except Exception as exc:
            return sent, exc
    return len(batch), None


async def unsent(batch: list[tuple[Subscription, dict[str, Any]]], exc: Exception) -> None:
    """The broker refused these hand-overs: they are due again at once."""
    broker_failed()
    error = f"{type(exc).__name__}: {exc}"[:2000]
    first = batch[0][1]
    log.warning(
        "outbox delivery failed; will retry",
        extra={"event_id": first["id"], "topic": first["topic"], "error": str(exc)},
    )
    async with session_factory()() as session:
        for subscription, message in batch:
            event_id = uuid.UUID(message["id"])
            await session.execute(
                update(ProcessedEvent)
                .where(
                    ProcessedEvent.event_id == event_id,
                    ProcessedEvent.handler == subscription.task_name,
                    ProcessedEvent.state == PENDING,
                )
                .values(next_attempt_at=func.now(), sends=ProcessedEvent.sends - 1)
            )
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == uuid.UUID(first["id"]))
            .values(last_error=error, attempts=OutboxEvent.attempts + 1)
        )
        await session.commit()


async def _count_sends(batch: list[tuple[Subscription, dict[str, Any]]]) -> None:
    counts: dict[uuid.UUID, int] = {}
    for _, message in batch:
        event_id = uuid.UUID(message["id"])
        counts[event_id] = counts.get(event_id, 0) + 1
    async with session_factory()() as session:
        for event_id, count in counts.items():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event_id)
                .values(attempts=OutboxEvent.attempts + count, last_error=None)
            )
        await session.commit()


async def purge_delivered(retention: timedelta) -> int:
    """Delete what is older than ``retention``: ``done`` deliveries, and dispatched events
    none of whose deliveries is still pending or dead. Returns how many events went."""
    cutoff = utcnow() - retention
    async with session_factory()() as session:
        await session.execute(
            delete(ProcessedEvent).where(
                ProcessedEvent.state == DONE, ProcessedEvent.processed_at < cutoff
            )
        )
        open_delivery = exists().where(
            ProcessedEvent.event_id == OutboxEvent.id, ProcessedEvent.state != DONE
        )
        result = await session.execute(
            delete(OutboxEvent).where(OutboxEvent.dispatched_at < cutoff, ~open_delivery)
        )
        await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
