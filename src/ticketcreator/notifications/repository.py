"""Queries of outgoing webhooks and of the cards held for Teams endpoints; everything a caller
reaches is filtered by organization."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from ticketcreator.notifications.models import (
    DeliveryStatus,
    TeamsCard,
    WebhookDelivery,
    WebhookEndpoint,
)
from ticketcreator.tickets.models import Ticket


async def endpoints(session: AsyncSession, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(rows)


async def endpoint(
    session: AsyncSession, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organization_id == organization_id
        )
    )


async def subscribed(
    session: AsyncSession, organization_id: uuid.UUID, event_type: str
) -> list[WebhookEndpoint]:
    """Enabled endpoints of the organization that want ``event_type``. Run for every event:
    a bot's credentials, needed only to send, are not loaded with them."""
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.event_types.overlap([event_type, "*"]),
        )
        .options(raiseload(WebhookEndpoint.teams_bot))
    )
    return list(rows)


async def add_delivery(session: AsyncSession, delivery: WebhookDelivery) -> bool:
    """Insert unless this event was already recorded for this endpoint (a redelivered event)."""
    result = await session.execute(
        insert(WebhookDelivery)
        .values(
            id=delivery.id,
            organization_id=delivery.organization_id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            payload=delivery.payload,
            status=delivery.status,
            attempts=[],
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
        )
        .on_conflict_do_nothing()
        .returning(WebhookDelivery.id)
    )
    return result.first() is not None


async def recorded(session: AsyncSession, endpoint_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    """Whether the event already became a delivery to the endpoint."""
    found = await session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.event_id == event_id
        )
    )
    return found is not None


async def deliveries(
    session: AsyncSession, organization_id: uuid.UUID, endpoint_id: uuid.UUID, limit: int
) -> list[WebhookDelivery]:
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.organization_id == organization_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(rows)


async def delivery(
    session: AsyncSession,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.organization_id == organization_id,
        )
    )


async def lock_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """The delivery, locked for one attempt; None when another worker holds it."""
    return await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
    )


async def endpoint_unscoped(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    found = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    assert found is not None  # deliveries are deleted with their endpoint
    return found


async def due(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(rows)


async def ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def lock_card(
    session: AsyncSession, endpoint: WebhookEndpoint, ticket_id: uuid.UUID
) -> TeamsCard:
    """The ticket's cards to a Teams endpoint (created when new), locked."""
    await session.execute(
        insert(TeamsCard)
        .values(
            endpoint_id=endpoint.id,
            ticket_id=ticket_id,
            organization_id=endpoint.organization_id,
            held=[],
        )
        .on_conflict_do_nothing()
    )
    found = await lock_held_card(session, endpoint.id, ticket_id)
    assert found is not None
    return found


async def lock_held_card(
    session: AsyncSession, endpoint_id: uuid.UUID, ticket_id: uuid.UUID
) -> TeamsCard | None:
    return await session.scalar(
        select(TeamsCard)
        .where(TeamsCard.endpoint_id == endpoint_id, TeamsCard.ticket_id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def forget_cards(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """A bot endpoint moved to another conversation: each ticket's card there is new."""
    await session.execute(
        update(TeamsCard).where(TeamsCard.endpoint_id == endpoint_id).values(activity_id=None)
    )
