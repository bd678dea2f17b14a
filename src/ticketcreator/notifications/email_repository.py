"""SQL of e-mail notifications: who is involved in a ticket, the members to write to, and
the pending e-mails that collect a ticket's changes for one person."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership, Organization, User
from ticketcreator.accounts.permissions import Role
from ticketcreator.notifications.email_models import EmailNotification, NotificationStatus
from ticketcreator.tickets.models import Comment, Ticket, Watcher


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    email: str
    name: str
    role: Role


async def ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def watchers(session: AsyncSession, ticket_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(select(Watcher.user_id).where(Watcher.ticket_id == ticket_id))
    )


async def members(
    session: AsyncSession, organization_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> list[Member]:
    """The active members of the organization among ``user_ids``, with their role."""
    if not user_ids:
        return []
    rows = await session.execute(
        select(User.id, User.email, User.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organization_id == organization_id,
            User.id.in_(user_ids),
            User.is_active.is_(True),
        )
    )
    return [Member(*row) for row in rows]


async def user_names(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {row[0]: row[1] for row in rows}


async def organization_name(session: AsyncSession, organization_id: uuid.UUID) -> str:
    return (
        await session.scalar(select(Organization.name).where(Organization.id == organization_id))
    ) or ""


async def comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment | None:
    return await session.get(Comment, comment_id)


async def add_change(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    ticket_id: uuid.UUID,
    change: dict[str, Any],
    due_at: datetime,
    handed_at: datetime | None,
    digest: str,
) -> tuple[uuid.UUID, bool]:
    """Add ``change`` to the person's pending e-mail about the ticket, or start one due at
    ``due_at`` (its send announced for ``handed_at``); returns its id and whether it was
    started now."""
    table = EmailNotification.__table__
    statement = (
        insert(EmailNotification)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            user_id=user_id,
            ticket_id=ticket_id,
            changes=[change],
            digest=digest,
            status=NotificationStatus.PENDING,
            due_at=due_at,
            handed_at=handed_at,
        )
        .on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.ticket_id],
            index_where=text("status = 'pending'"),
            set_={
                "changes": table.c.changes.op("||")(bindparam("change", [change], type_=JSONB)),
                "updated_at": func.now(),
            },
        )
        .returning(table.c.id, literal_column("xmax = 0"))
    )
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def lock_pending(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[EmailNotification]:
    """The pending e-mails among ``ids``, locked (a concurrent send of the same waits, then
    finds them sent)."""
    query = (
        select(EmailNotification)
        .where(
            EmailNotification.id.in_(ids), EmailNotification.status == NotificationStatus.PENDING
        )
        .order_by(EmailNotification.due_at)
        .with_for_update(of=EmailNotification)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(query))


async def due(
    session: AsyncSession, now: datetime, handed_before: datetime, limit: int = 500
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]]:
    """(id, organization, person, digest) of pending e-mails that are due and were not
    handed to the worker, or were handed before ``handed_before`` and are still unsent."""
    rows = await session.execute(
        select(
            EmailNotification.id,
            EmailNotification.organization_id,
            EmailNotification.user_id,
            EmailNotification.digest,
        )
        .where(
            EmailNotification.status == NotificationStatus.PENDING,
            EmailNotification.due_at <= now,
            or_(EmailNotification.handed_at.is_(None), EmailNotification.handed_at < handed_before),
        )
        .order_by(EmailNotification.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def mark_handed(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime) -> None:
    await session.execute(
        update(EmailNotification).where(EmailNotification.id.in_(ids)).values(handed_at=now)
    )
