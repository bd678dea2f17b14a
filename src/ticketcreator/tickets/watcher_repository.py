"""Queries of a ticket's watchers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import utcnow
from ticketcreator.tickets.models import Ticket, Watcher


async def watchers(session: AsyncSession, ticket: Ticket) -> Sequence[Watcher]:
    return (
        await session.scalars(
            select(Watcher).where(Watcher.ticket_id == ticket.id).order_by(Watcher.created_at)
        )
    ).all()


async def add_watcher(session: AsyncSession, ticket: Ticket, user_id: uuid.UUID) -> bool:
    """Add the watcher; False if they already watched."""
    result = await session.execute(
        insert(Watcher)
        .values(ticket_id=ticket.id, user_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(Watcher.user_id)
    )
    return result.first() is not None


async def remove_watcher(session: AsyncSession, ticket: Ticket, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Watcher)
        .where(Watcher.ticket_id == ticket.id, Watcher.user_id == user_id)
        .returning(Watcher.user_id)
    )
    return result.first() is not None
