"""Listing, counting and replaying event deliveries, of one organization or (operators,
``organization_id=None``) of all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import events, outbox
from ticketcreator.core.db import after_commit, utcnow
from ticketcreator.core.errors import Conflict, NotFound
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
from ticketcreator.deliveries.schemas import DeliveryRead, DeliveryState

Delivery = Row[ProcessedEvent, OutboxEvent]


class NotDead(Conflict):
    slug = "delivery-not-dead"
    title = "Only a dead-lettered delivery can be replayed"


def _scoped[*Ts](query: Select[*Ts], organization_id: uuid.UUID | None) -> Select[*Ts]:
    query = query.join(OutboxEvent, OutboxEvent.id == ProcessedEvent.event_id)
    if organization_id is not None:
        query = query.where(OutboxEvent.organization_id == organization_id)
    return query


async def list_deliveries(
    session: AsyncSession,
    organization_id: uuid.UUID | None,
    state: DeliveryState,
    *,
    subscriber: str | None = None,
    limit: int = 100,
) -> Sequence[Delivery]:
    """Deliveries in ``state``, oldest first."""
    query = _scoped(select(ProcessedEvent, OutboxEvent), organization_id).where(
        ProcessedEvent.state == state.value
    )
    if subscriber is not None:
        query = query.where(ProcessedEvent.handler == subscriber)
    query = query.order_by(ProcessedEvent.created_at, ProcessedEvent.id).limit(limit)
    return (await session.execute(query)).all()


async def counts(session: AsyncSession, organization_id: uuid.UUID | None) -> dict[str, int]:
    query = _scoped(
        select(ProcessedEvent.state, func.count()).group_by(ProcessedEvent.state), organization_id
    )
    found = {state: int(count) for state, count in (await session.execute(query)).all()}
    return {state.value: found.get(state.value, 0) for state in DeliveryState}


async def replay_one(
    session: AsyncSession, organization_id: uuid.UUID | None, delivery_id: uuid.UUID
) -> Delivery:
    query = _scoped(select(ProcessedEvent, OutboxEvent), organization_id).where(
        ProcessedEvent.id == delivery_id
    )
    row = (await session.execute(query.with_for_update(of=ProcessedEvent))).first()
    if row is None:
        raise NotFound("No such event delivery.")
    if row[0].state != outbox.DEAD:
        raise NotDead(f"The delivery is {row[0].state}.")
    _replay(session, [row[0]])
    return row


async def replay_dead(
    session: AsyncSession,
    organization_id: uuid.UUID | None,
    *,
    subscriber: str | None = None,
    limit: int = 1000,
) -> int:
    """Replay the oldest ``limit`` dead-lettered deliveries (of one subscriber)."""
    query = _scoped(select(ProcessedEvent), organization_id).where(
        ProcessedEvent.state == outbox.DEAD
    )
    if subscriber is not None:
        query = query.where(ProcessedEvent.handler == subscriber)
    query = query.order_by(ProcessedEvent.created_at).limit(limit)
    deliveries = (await session.scalars(query.with_for_update(of=ProcessedEvent))).all()
    _replay(session, deliveries)
    return len(deliveries)


def _replay(session: AsyncSession, deliveries: Sequence[ProcessedEvent]) -> None:
    """Make the deliveries pending and due with a fresh run count; handed over after commit
    (or by the next relay run)."""
    for delivery in deliveries:
        delivery.state = outbox.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        delivery.processed_at = None
    event_ids = list({delivery.event_id for delivery in deliveries})
    if event_ids:

        async def hand_over() -> None:
            await events.deliver(event_ids)

        after_commit(session, hand_over)


def to_read(delivery: ProcessedEvent, event: OutboxEvent) -> DeliveryRead:
    error = delivery.last_error
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        topic=event.topic,
        subscriber=delivery.handler,
        state=DeliveryState(delivery.state),
        attempts=delivery.attempts,
        error_type=error.split(":", 1)[0] if error else None,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        finished_at=delivery.processed_at,
    )
