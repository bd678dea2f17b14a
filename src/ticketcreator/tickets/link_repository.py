"""Queries of a ticket's external links, filtered by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.tickets.models import ExternalLink, Ticket


async def links(session: AsyncSession, ticket: Ticket) -> Sequence[ExternalLink]:
    return (
        await session.scalars(
            select(ExternalLink)
            .where(
                ExternalLink.ticket_id == ticket.id,
                ExternalLink.organization_id == ticket.organization_id,
            )
            .order_by(ExternalLink.created_at, ExternalLink.id)
        )
    ).all()


async def find_link(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, external_id: str
) -> ExternalLink | None:
    return (
        await session.scalars(
            select(ExternalLink).where(
                ExternalLink.organization_id == organization_id,
                ExternalLink.provider == provider,
                ExternalLink.external_id == external_id,
            )
        )
    ).first()


async def get_link(
    session: AsyncSession, ticket: Ticket, link_id: uuid.UUID
) -> ExternalLink | None:
    return (
        await session.scalars(
            select(ExternalLink).where(
                ExternalLink.id == link_id,
                ExternalLink.ticket_id == ticket.id,
                ExternalLink.organization_id == ticket.organization_id,
            )
        )
    ).first()
