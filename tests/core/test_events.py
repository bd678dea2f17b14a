"""The event bus: named topics, the subscribers the task modules declare, and a process that
has not loaded them leaving the fan-out to one that has."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator import tasks
from ticketcreator.core import events, outbox
from ticketcreator.core.db import commit, utcnow
from ticketcreator.core.events import PAYLOADS, Topic, subscribers
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
from ticketcreator.core.tasks import celery_app

pytestmark = pytest.mark.usefixtures("database")


def test_every_topic_has_a_payload_shape() -> None:
    assert set(PAYLOADS) == set(Topic)


def test_every_subscriber_listens_to_a_named_topic_and_is_a_task_of_the_app() -> None:
    tasks.load()
    product = [sub for sub in subscribers if sub.task_name.startswith("ticketcreator.")]
    assert product, "the task modules declared no subscriber"
    for subscription in product:
        assert isinstance(subscription.topic, Topic), subscription.task_name
        assert subscription.task_name in celery_app.tasks
    names = {subscription.task_name for subscription in product}
    assert "ticketcreator.ai.triage.tasks.triage_new_ticket" in names
    assert set(subscribers.for_topic(Topic.TICKET_CREATED)) >= {
        outbox.Subscription(
            Topic.TICKET_CREATED, "ticketcreator.ai.triage.tasks.triage_new_ticket", "ai"
        )
    }
    assert {"outbox.relay", "outbox.purge", "ai.train_due"} <= set(celery_app.tasks)
    assert {entry["task"] for entry in tasks.beat_schedule().values()} <= set(celery_app.tasks)


async def test_a_process_without_the_subscribers_leaves_the_fan_out_to_the_relay(
    session: AsyncSession,
) -> None:
    ticket_id = str(uuid.uuid4())
    waiting_id = uuid.uuid4()
    session.add(
        OutboxEvent(
            id=waiting_id, topic=Topic.AI_TRIAGE_REQUESTED, payload={"ticket_id": ticket_id}
        )
    )
    await commit(session)

    await outbox.deliver(None, [waiting_id])  # as a process that did not load the task modules

    assert await _dispatched(session, waiting_id) is None
    await events.deliver([waiting_id])  # the relay, which knows them, fans it out
    assert await _dispatched(session, waiting_id) is not None
    delivery = await session.get(
        ProcessedEvent, (waiting_id, "ticketcreator.ai.triage.tasks.triage_on_request")
    )
    assert delivery is not None


async def _dispatched(session: AsyncSession, event_id: uuid.UUID) -> object:
    session.expire_all()
    return await session.scalar(select(OutboxEvent.dispatched_at).where(OutboxEvent.id == event_id))


async def test_a_delayed_event_is_handed_over_only_when_due(session: AsyncSession) -> None:
    event_id = events.emit(
        session,
        Topic.AI_TRAINING_DUE,
        {"organization_id": str(uuid.uuid4()), "force": False},
        delay=timedelta(hours=1),
    )
    await commit(session)  # fanned out right after commit, but not handed over

    session.expire_all()
    delivery = await session.scalar(
        select(ProcessedEvent).where(ProcessedEvent.event_id == event_id)
    )
    assert delivery is not None
    assert delivery.handler == "ticketcreator.ai.triage.tasks.train_when_due"
    assert delivery.sends == 0
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > utcnow() + timedelta(minutes=59)
    assert await events.deliver() == 0  # the relay leaves it until then
