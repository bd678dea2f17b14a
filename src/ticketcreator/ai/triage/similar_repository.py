"""Queries of similar tickets: embeddings stored and searched with pgvector, and what is shown
of the tickets found (their last public reply, who handled them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership, User
from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.triage.models import TicketEmbedding
from ticketcreator.core.db import utcnow
from ticketcreator.taxonomy.models import Team
from ticketcreator.tickets.models import Comment, Status, Ticket
from ticketcreator.tickets.visibility import Visibility


async def save_embedding(
    session: AsyncSession,
    organization_id: uuid.UUID,
    ticket_id: uuid.UUID,
    vector: FloatArray,
    model: str,
) -> None:
    values = {
        "ticket_id": ticket_id,
        "organization_id": organization_id,
        "embedding": vector.tolist(),
        "model": model,
        "updated_at": utcnow(),
    }
    statement = insert(TicketEmbedding).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[TicketEmbedding.ticket_id],
            set_={key: statement.excluded[key] for key in ("embedding", "model", "updated_at")},
        )
    )


@dataclass(frozen=True)
class Neighbour:
    ticket_id: uuid.UUID
    number: int
    title: str
    similarity: float


async def similar_tickets(
    session: AsyncSession, visibility: Visibility, ticket_id: uuid.UUID, limit: int
) -> list[Neighbour]:
    """The live tickets nearest to this one's stored embedding, among those ``visibility``
    lets the caller see (a reporter: their own)."""
    own = (
        select(TicketEmbedding.embedding)
        .where(TicketEmbedding.ticket_id == ticket_id)
        .scalar_subquery()
    )
    distance = TicketEmbedding.embedding.cosine_distance(own)
    query = (
        select(Ticket.id, Ticket.number, Ticket.title, (1 - distance).label("similarity"))
        .join(Ticket, Ticket.id == TicketEmbedding.ticket_id)
        .where(
            TicketEmbedding.organization_id == visibility.organization_id,
            visibility.tickets(),
            TicketEmbedding.ticket_id != ticket_id,
            Ticket.deleted_at.is_(None),
            own.is_not(None),
        )
        .order_by(distance)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [Neighbour(row.id, row.number, row.title, float(row.similarity)) for row in rows]


@dataclass(frozen=True)
class Nearby:
    """A ticket near a text, with who handled it."""

    ticket_id: uuid.UUID
    number: int
    title: str
    similarity: float
    status: Status
    assignee_id: uuid.UUID | None
    team_id: uuid.UUID | None


async def stored_embedding(session: AsyncSession, ticket_id: uuid.UUID) -> list[float] | None:
    query = select(TicketEmbedding.embedding).where(TicketEmbedding.ticket_id == ticket_id)
    vector = await session.scalar(query)
    return None if vector is None else [float(x) for x in vector]


async def nearest_tickets(
    session: AsyncSession,
    vector: Sequence[float],
    visible: ColumnElement[bool],
    statuses: Sequence[Status],
    *,
    exclude: uuid.UUID | None,
    min_similarity: float,
    limit: int,
) -> list[Nearby]:
    """Live tickets in ``statuses`` that ``visible`` lets the caller see (it names their
    organization, see :class:`~ticketcreator.tickets.visibility.Visibility`), nearest first."""
    distance = TicketEmbedding.embedding.cosine_distance(list(vector))
    query = (
        select(
            Ticket.id,
            Ticket.number,
            Ticket.title,
            Ticket.status,
            Ticket.assignee_id,
            Ticket.team_id,
            (1 - distance).label("similarity"),
        )
        .join(Ticket, Ticket.id == TicketEmbedding.ticket_id)
        .where(
            visible,
            TicketEmbedding.organization_id == Ticket.organization_id,
            Ticket.deleted_at.is_(None),
            Ticket.status.in_(statuses),
            distance <= 1 - min_similarity,
        )
        .order_by(distance)
        .limit(limit)
    )
    if exclude is not None:
        query = query.where(Ticket.id != exclude)
    return [
        Nearby(r.id, r.number, r.title, float(r.similarity), r.status, r.assignee_id, r.team_id)
        for r in (await session.execute(query)).all()
    ]


async def last_public_replies(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The latest public, live comment of each ticket."""
    query = (
        select(Comment.ticket_id, Comment.body)
        .where(
            Comment.ticket_id.in_(ticket_ids),
            Comment.internal.is_(False),
            Comment.deleted_at.is_(None),
        )
        .order_by(Comment.ticket_id, Comment.created_at.desc())
        .ext(distinct_on(Comment.ticket_id))
    )
    return {row.ticket_id: row.body for row in (await session.execute(query)).all()}


async def names(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
) -> tuple[str | None, str | None]:
    """The display names of a user and a team of the organization (None if not found)."""
    user = None
    if user_id is not None:
        user = await session.scalar(
            select(User.name)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == user_id, Membership.organization_id == organization_id)
        )
    team = None
    if team_id is not None:
        team = await session.scalar(
            select(Team.name).where(Team.id == team_id, Team.organization_id == organization_id)
        )
    return user, team
