"""SQL of notification preferences: a member's own row, the organization's defaults row."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.notifications.email_models import NotificationPreference


async def find(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    *,
    lock: bool = False,
) -> NotificationPreference | None:
    """The member's row (``user_id``) or the organization's defaults (``user_id`` None)."""
    owner = (
        NotificationPreference.user_id == user_id
        if user_id is not None
        else NotificationPreference.user_id.is_(None)
    )
    query = select(NotificationPreference).where(
        NotificationPreference.organization_id == organization_id, owner
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def both(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[NotificationPreference | None, NotificationPreference | None]:
    """(the member's row, the organization's defaults) in one query."""
    rows = await session.scalars(
        select(NotificationPreference).where(
            NotificationPreference.organization_id == organization_id,
            (NotificationPreference.user_id == user_id) | NotificationPreference.user_id.is_(None),
        )
    )
    mine = organization = None
    for row in rows:
        if row.user_id is None:
            organization = row
        else:
            mine = row
    return mine, organization
