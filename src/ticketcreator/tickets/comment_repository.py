"""Queries of a ticket's comments and timeline; internal ones only for callers who may see
them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, literal, select, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.tickets.models import Comment, Ticket, TicketEvent
from ticketcreator.tickets.visibility import Visibility


def _visible_comments(ticket: Ticket, visibility: Visibility) -> list[ColumnElement[bool]]:
    conditions = [
        Comment.ticket_id == ticket.id,
        Comment.organization_id == visibility.organization_id,
        Comment.deleted_at.is_(None),
    ]
    if not visibility.internal:
        conditions.append(Comment.internal.is_(False))
    return conditions


async def get_comment(
    session: AsyncSession, ticket: Ticket, visibility: Visibility, comment_id: uuid.UUID
) -> Comment | None:
    return (
        await session.scalars(
            select(Comment).where(Comment.id == comment_id, *_visible_comments(ticket, visibility))
        )
    ).first()


async def list_comments(
    session: AsyncSession,
    ticket: Ticket,
    visibility: Visibility,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Comment]:
    query = select(Comment).where(*_visible_comments(ticket, visibility))
    if after is not None:
        query = query.where(tuple_(Comment.created_at, Comment.id) > tuple_(*after))
    return (
        await session.scalars(query.order_by(Comment.created_at, Comment.id).limit(limit))
    ).all()


async def timeline(
    session: AsyncSession,
    ticket: Ticket,
    visibility: Visibility,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[TicketEvent | Comment]:
    """Events and comments of a ticket, oldest first (a comment stands for its own event)."""
    event_conditions = [
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.organization_id == visibility.organization_id,
        TicketEvent.kind != "commented",
    ]
    if not visibility.internal:
        event_conditions.append(TicketEvent.internal.is_(False))
    events = select(literal("event").label("source"), TicketEvent.id, TicketEvent.created_at).where(
        *event_conditions
    )
    comments = select(literal("comment").label("source"), Comment.id, Comment.created_at).where(
        *_visible_comments(ticket, visibility)
    )
    merged = union_all(events, comments).subquery()
    query = select(merged.c.source, merged.c.id)
    if after is not None:
        query = query.where(tuple_(merged.c.created_at, merged.c.id) > tuple_(*after))
    rows = (
        await session.execute(query.order_by(merged.c.created_at, merged.c.id).limit(limit))
    ).all()
    event_ids = [row.id for row in rows if row.source == "event"]
    comment_ids = [row.id for row in rows if row.source == "comment"]
    loaded: dict[uuid.UUID, TicketEvent | Comment] = {}
    if event_ids:
        loaded.update(
            (e.id, e)
            for e in await session.scalars(select(TicketEvent).where(TicketEvent.id.in_(event_ids)))
        )
    if comment_ids:
        loaded.update(
            (c.id, c)
            for c in await session.scalars(select(Comment).where(Comment.id.in_(comment_ids)))
        )
    return [loaded[row.id] for row in rows]


async def forget_event_values(session: AsyncSession, ticket: Ticket, field: str) -> None:
    """Drop the old and new values of the ticket's events about ``field`` (keep that they
    happened)."""
    await session.execute(
        update(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.organization_id == ticket.organization_id,
            TicketEvent.field == field,
        )
        .values(old=None, new=None)
    )
