"""Queries of the integrations package (installations are always read within an organization,
except by the public webhook route, which is authorized by the webhook's signature)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import User
from ticketcreator.core.db import utcnow
from ticketcreator.integrations.models import (
    CommentLink,
    Installation,
    SyncLogEntry,
    TicketSync,
    WebhookDelivery,
)
from ticketcreator.tickets.models import Comment, ExternalLink, Ticket


async def installations(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[Installation]:
    query = (
        select(Installation)
        .where(Installation.organization_id == organization_id)
        .order_by(Installation.created_at, Installation.id)
    )
    return (await session.scalars(query)).all()


async def installation(
    session: AsyncSession, organization_id: uuid.UUID, installation_id: uuid.UUID
) -> Installation | None:
    query = select(Installation).where(
        Installation.id == installation_id, Installation.organization_id == organization_id
    )
    return (await session.scalars(query)).first()


async def installation_for_webhook(
    session: AsyncSession, provider: str, installation_id: uuid.UUID
) -> Installation | None:
    query = select(Installation).where(
        Installation.id == installation_id, Installation.provider == provider
    )
    return (await session.scalars(query)).first()


async def installation_by_id(
    session: AsyncSession, installation_id: uuid.UUID
) -> Installation | None:
    """For the worker, which acts on ids taken from its own queue."""
    return await session.get(Installation, installation_id)


async def auto_sync_installations(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[Installation]:
    query = select(Installation).where(
        Installation.organization_id == organization_id,
        Installation.enabled.is_(True),
        Installation.config["sync_new_tickets"].as_boolean().is_(True),
    )
    return (await session.scalars(query)).all()


async def request_sync(
    session: AsyncSession,
    organization_id: uuid.UUID,
    installation_id: uuid.UUID,
    ticket_id: uuid.UUID,
    next_attempt_at: datetime,
    *,
    reset_attempts: bool,
) -> None:
    """Mark the ticket as having changes for the installation (one row per pair)."""
    now = utcnow()
    statement = insert(TicketSync).values(
        id=uuid.uuid4(),
        organization_id=organization_id,
        installation_id=installation_id,
        ticket_id=ticket_id,
        requested_at=now,
        next_attempt_at=next_attempt_at,
        attempts=0,
        created_at=now,
    )
    columns = TicketSync.__table__.c
    changes = {
        "requested_at": func.coalesce(columns.requested_at, now),
        "next_attempt_at": next_attempt_at,
    }
    if reset_attempts:
        changes["attempts"] = 0
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[TicketSync.installation_id, TicketSync.ticket_id], set_=changes
        )
    )


async def ticket_sync(
    session: AsyncSession, installation_id: uuid.UUID, ticket_id: uuid.UUID
) -> TicketSync | None:
    query = select(TicketSync).where(
        TicketSync.installation_id == installation_id, TicketSync.ticket_id == ticket_id
    )
    return (await session.scalars(query)).first()


async def due_syncs(session: AsyncSession, now: datetime, limit: int) -> Sequence[TicketSync]:
    """Pending syncs whose lease ran out (their task was lost, or their wait is over)."""
    query = (
        select(TicketSync)
        .where(TicketSync.requested_at.is_not(None), TicketSync.next_attempt_at <= now)
        .order_by(TicketSync.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def oldest_pending(session: AsyncSession, installation_id: uuid.UUID) -> datetime | None:
    query = select(func.min(TicketSync.requested_at)).where(
        TicketSync.installation_id == installation_id
    )
    result: datetime | None = await session.scalar(query)
    return result


async def pending_count(session: AsyncSession, installation_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        TicketSync.installation_id == installation_id, TicketSync.requested_at.is_not(None)
    )
    return int(await session.scalar(query) or 0)


async def link_of(
    session: AsyncSession, installation_id: uuid.UUID, ticket_id: uuid.UUID
) -> ExternalLink | None:
    query = select(ExternalLink).where(
        ExternalLink.installation_id == installation_id, ExternalLink.ticket_id == ticket_id
    )
    return (await session.scalars(query)).first()


async def link_by_external_id(
    session: AsyncSession, installation: Installation, external_id: str
) -> ExternalLink | None:
    query = select(ExternalLink).where(
        ExternalLink.organization_id == installation.organization_id,
        ExternalLink.installation_id == installation.id,
        ExternalLink.external_id == external_id,
    )
    return (await session.scalars(query)).first()


async def links_of_ticket(
    session: AsyncSession, organization_id: uuid.UUID, ticket_id: uuid.UUID
) -> Sequence[ExternalLink]:
    query = (
        select(ExternalLink)
        .where(ExternalLink.organization_id == organization_id, ExternalLink.ticket_id == ticket_id)
        .order_by(ExternalLink.created_at, ExternalLink.id)
    )
    return (await session.scalars(query)).all()


async def syncs_of_ticket(
    session: AsyncSession, organization_id: uuid.UUID, ticket_id: uuid.UUID
) -> Sequence[TicketSync]:
    query = select(TicketSync).where(
        TicketSync.organization_id == organization_id, TicketSync.ticket_id == ticket_id
    )
    return (await session.scalars(query)).all()


async def linked_installations(
    session: AsyncSession, ticket_id: uuid.UUID
) -> Sequence[Installation]:
    """Enabled installations the ticket is linked to or has a pending sync with."""
    query = select(Installation).where(
        Installation.enabled.is_(True),
        or_(
            Installation.id.in_(
                select(ExternalLink.installation_id).where(ExternalLink.ticket_id == ticket_id)
            ),
            Installation.id.in_(
                select(TicketSync.installation_id).where(TicketSync.ticket_id == ticket_id)
            ),
        ),
    )
    return (await session.scalars(query)).all()


async def public_comments(
    session: AsyncSession, ticket_id: uuid.UUID
) -> Sequence[tuple[Comment, str | None]]:
    """The ticket's public comments, oldest first, with their authors' names."""
    query = (
        select(Comment, User.name)
        .outerjoin(User, User.id == Comment.author_id)
        .where(
            Comment.ticket_id == ticket_id,
            Comment.internal.is_(False),
            Comment.deleted_at.is_(None),
        )
        .order_by(Comment.created_at, Comment.id)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def comment_links(
    session: AsyncSession, installation_id: uuid.UUID, comment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CommentLink]:
    if not comment_ids:
        return {}
    query = select(CommentLink).where(
        CommentLink.installation_id == installation_id, CommentLink.comment_id.in_(comment_ids)
    )
    return {link.comment_id: link for link in (await session.scalars(query)).all()}


async def comment_link_by_external_id(
    session: AsyncSession, installation_id: uuid.UUID, external_id: str
) -> CommentLink | None:
    query = select(CommentLink).where(
        CommentLink.installation_id == installation_id, CommentLink.external_id == external_id
    )
    return (await session.scalars(query)).first()


async def comments_in_flight(
    session: AsyncSession, installation_id: uuid.UUID, ticket_id: uuid.UUID
) -> bool:
    """Whether one of the ticket's comments is being sent (its vendor id not known yet)."""
    query = (
        select(CommentLink.id)
        .join(Comment, Comment.id == CommentLink.comment_id)
        .where(
            CommentLink.installation_id == installation_id,
            CommentLink.external_id.is_(None),
            Comment.ticket_id == ticket_id,
        )
        .limit(1)
    )
    return (await session.scalar(query)) is not None


async def store_delivery(session: AsyncSession, delivery: WebhookDelivery) -> bool:
    """Insert the delivery; False when the vendor already sent it (a redelivery)."""
    result = await session.execute(
        insert(WebhookDelivery)
        .values(
            id=delivery.id,
            organization_id=delivery.organization_id,
            installation_id=delivery.installation_id,
            delivery_id=delivery.delivery_id,
            event=delivery.event,
            payload=delivery.payload,
            received_at=delivery.received_at,
        )
        .on_conflict_do_nothing()
        .returning(WebhookDelivery.id)
    )
    return result.first() is not None


async def delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    return (await session.scalars(query)).first()


async def sync_log(
    session: AsyncSession,
    installation: Installation,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[SyncLogEntry]:
    """The installation's log, newest first."""
    query = select(SyncLogEntry).where(
        SyncLogEntry.organization_id == installation.organization_id,
        SyncLogEntry.installation_id == installation.id,
    )
    if after is not None:
        query = query.where(
            or_(
                SyncLogEntry.created_at < after[0],
                and_(SyncLogEntry.created_at == after[0], SyncLogEntry.id < after[1]),
            )
        )
    query = query.order_by(SyncLogEntry.created_at.desc(), SyncLogEntry.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def count_health(session: AsyncSession, installation_id: uuid.UUID, field: str) -> None:
    """Add one to a health counter atomically (concurrent workers update the same row)."""
    column = getattr(Installation, field)
    await session.execute(
        update(Installation).where(Installation.id == installation_id).values({field: column + 1})
    )


async def ticket_organization(session: AsyncSession, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The organization of a live ticket (None if it does not exist or is deleted)."""
    query = select(Ticket.organization_id).where(
        Ticket.id == ticket_id, Ticket.deleted_at.is_(None)
    )
    result: uuid.UUID | None = await session.scalar(query)
    return result


async def unsynced(
    session: AsyncSession, changed_before: datetime, created_after: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(installation, ticket) pairs whose change never reached the sync (a lost event).

    Three cases, each older than the grace period and without pending work: a linked ticket
    changed after its last synced version; a public comment of a linked ticket without its
    vendor copy; a new ticket of an auto-syncing installation without a link.
    """
    pending = select(TicketSync.id).where(
        TicketSync.installation_id == Installation.id,
        TicketSync.ticket_id == Ticket.id,
        TicketSync.requested_at.is_not(None),
    )
    live = and_(Installation.enabled.is_(True), Ticket.deleted_at.is_(None), ~pending.exists())
    stale_links = (
        select(Installation.id, Ticket.id)
        .join(ExternalLink, ExternalLink.installation_id == Installation.id)
        .join(Ticket, Ticket.id == ExternalLink.ticket_id)
        .where(
            live,
            Ticket.updated_at < changed_before,
            func.coalesce(ExternalLink.last_synced_version, 0) < Ticket.version,
        )
    )
    comments_unsent = (
        select(Installation.id, Ticket.id)
        .join(ExternalLink, ExternalLink.installation_id == Installation.id)
        .join(Ticket, Ticket.id == ExternalLink.ticket_id)
        .join(Comment, Comment.ticket_id == Ticket.id)
        .where(
            live,
            Installation.config["sync_comments"].as_boolean().is_(True),
            Comment.internal.is_(False),
            Comment.deleted_at.is_(None),
            Comment.created_at < changed_before,
            Comment.created_at > created_after,
            ~select(CommentLink.id)
            .where(
                CommentLink.installation_id == Installation.id,
                CommentLink.comment_id == Comment.id,
                CommentLink.external_id.is_not(None),
            )
            .exists(),
        )
    )
    never_synced = (
        select(Installation.id, Ticket.id)
        .join(Ticket, Ticket.organization_id == Installation.organization_id)
        .where(
            live,
            Installation.config["sync_new_tickets"].as_boolean().is_(True),
            Ticket.created_at > func.greatest(Installation.created_at, created_after),
            Ticket.created_at < changed_before,
            ~select(ExternalLink.id)
            .where(
                ExternalLink.installation_id == Installation.id,
                ExternalLink.ticket_id == Ticket.id,
            )
            .exists(),
        )
    )
    query = stale_links.union(comments_unsent, never_synced).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
