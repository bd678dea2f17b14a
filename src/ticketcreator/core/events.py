"""The event bus: who subscribes to each topic, and :func:`emit`.

A change announces itself with ``emit(session, Topic.X, payload)`` in its own transaction;
the outbox (:mod:`ticketcreator.core.outbox`) stores it with the change and, once committed,
delivers it (:mod:`ticketcreator.core.handover`) to each subscriber of the topic: a Celery
task declared with :func:`subscriber` in a ``tasks`` module (listed in
:mod:`ticketcreator.tasks`). A process fans events out only once it has loaded them all
(:meth:`Subscribers.complete`), and leaves the fan-out to the relay before.

Every message a subscriber receives is :class:`Message`; its ``payload`` is the topic's
payload (the ``TypedDict`` named in :data:`PAYLOADS`). The topics and their payloads are in
:mod:`ticketcreator.core.topics`, re-exported here with the bus.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypedDict

from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import consumer, handover, journal, outbox, reactions
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import after_commit, in_request, utcnow
from ticketcreator.core.handover import Coalescer
from ticketcreator.core.outbox import OutboxEvent, Subscription
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.core.topics import (
    ATTACHMENT_CHANGES,
    PAYLOADS,
    TICKET_CHANGES,
    Topic,
)

log = logging.getLogger(__name__)

__all__ = [
    "ATTACHMENT_CHANGES",
    "PAYLOADS",
    "TICKET_CHANGES",
    "Message",
    "Topic",
    "emit",
    "subscriber",
    "subscribers",
]


class Message(TypedDict):
    """What a subscriber receives (see :func:`ticketcreator.core.outbox.message_of`)."""

    id: str  # the event's id
    topic: str
    organization_id: str | None
    occurred_at: str
    payload: dict[str, Any]  # the topic's payload (PAYLOADS)
    delivery: int  # the hand-over's number; only the latest one runs


# Subscribers

EventHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


class Subscribers:
    """Topic -> subscriber tasks, filled by the task modules (:mod:`ticketcreator.tasks`)."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Subscription]] = {}
        self._complete = False

    def add(self, topic: Topic, task_name: str, queue: str) -> None:
        subscriptions = self._by_topic.setdefault(topic, [])
        if not any(sub.task_name == task_name for sub in subscriptions):
            subscriptions.append(Subscription(topic, task_name, queue))

    def for_topic(self, topic: str) -> Sequence[Subscription]:
        return self._by_topic.get(topic, ())

    def __iter__(self) -> Iterator[Subscription]:
        return (sub for subscriptions in self._by_topic.values() for sub in subscriptions)

    def complete(self) -> None:
        """Every task module is loaded: events may be fanned out to these subscribers."""
        self._complete = True

    @property
    def is_complete(self) -> bool:
        return self._complete


subscribers = Subscribers()


def subscriber(
    topic: Topic | Iterable[Topic], *, queue: str = "default"
) -> Callable[[EventHandler], Task]:
    """Make an event handler a Celery task subscribed to ``topic`` (one or several): it runs
    once per event, in one transaction with its delivery's ``done``; a failure leaves no trace
    and is retried, then dead-lettered (see :func:`ticketcreator.core.consumer.handle`)."""

    def register(handler: EventHandler) -> Task:
        name = f"{handler.__module__}.{handler.__name__}"

        @celery_app.task(name=name, queue=queue, outbox_subscriber=True)  # type: ignore[untyped-decorator]
        def task(message: dict[str, Any]) -> None:
            run_async(consumer.handle(message, name, queue, handler))

        for each in [topic] if isinstance(topic, str) else topic:
            subscribers.add(each, name, queue)
        return task

    return register


def emit(
    session: AsyncSession,
    topic: Topic,
    payload: dict[str, Any],
    *,
    organization_id: uuid.UUID | None = None,
    delay: timedelta | None = None,
) -> uuid.UUID:
    """Record an event in the caller's transaction (:mod:`ticketcreator.core.journal`); it is
    delivered after commit (a request's by a worker, a task's where it runs), or ``delay``
    later (then by the relay). Returns its id."""
    now = utcnow()
    event_id = uuid.uuid4()
    row = {
        "id": event_id,
        "topic": topic,
        "organization_id": organization_id,
        "payload": payload,
        "created_at": now,
        "deliver_at": now + delay if delay else None,
        "attempts": 0,
    }
    journal.append(session, OutboxEvent, row)
    pending: list[uuid.UUID] = session.info.setdefault("outbox_pending", [])
    if not pending:
        hand_overs = _to_worker if in_request(session) else _here

        async def deliver_pending() -> None:
            try:
                await hand_overs.submit(list(pending))
            except Exception:  # the change is committed; the relay hands its events over
                log.warning("outbox hand-over after commit failed", exc_info=True)
            pending.clear()

        after_commit(session, deliver_pending)
    pending.append(event_id)
    reactions.queue(session, row)
    return event_id


async def deliver(event_ids: list[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Fan new events out to their subscribers and hand due deliveries to the broker (see
    :func:`ticketcreator.core.outbox.deliver`); returns how many were handed over."""
    route = subscribers.for_topic if subscribers.is_complete else None
    return await outbox.deliver(route, event_ids, limit)


_here = Coalescer(lambda event_ids: deliver(event_ids, limit=16 * len(event_ids)))
_to_worker = Coalescer(
    handover.to_worker, spacing=lambda: get_settings().outbox.handover_spacing_ms / 1000
)


@celery_app.task(name=handover.HAND_OVER)  # type: ignore[untyped-decorator]
def hand_over(event_ids: list[str]) -> int:
    """Fan out events requests committed and hand their deliveries to the broker."""
    return run_async(deliver([uuid.UUID(each) for each in event_ids], 16 * len(event_ids)))


@celery_app.task(name="outbox.relay")  # type: ignore[untyped-decorator]
def relay() -> int:
    """Hand undelivered outbox events to the broker."""
    return run_async(deliver(limit=get_settings().outbox.batch_size))


@celery_app.task(name="outbox.purge")  # type: ignore[untyped-decorator]
def purge() -> int:
    """Drop delivered outbox events and done deliveries past their retention."""
    return run_async(outbox.purge_delivered(timedelta(days=get_settings().outbox.retention_days)))
