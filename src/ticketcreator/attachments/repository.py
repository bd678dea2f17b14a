"""Queries on attachments. Lookups for callers are scoped to their organization; the
unscoped lookup is for signed links and workers, which carry their own authority."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments.models import Attachment, ProcessingStatus


def add(session: AsyncSession, attachment: Attachment) -> None:
    session.add(attachment)


async def get(
    session: AsyncSession, organization_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment | None:
    query = select(Attachment).where(
        Attachment.id == attachment_id, Attachment.organization_id == organization_id
    )
    return (await session.scalars(query)).first()


async def delete_many(
    session: AsyncSession, organization_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete the attachments (their texts and capture entries go with them); returns the ids
    that were deleted."""
    result = await session.execute(
        delete(Attachment)
        .where(Attachment.organization_id == organization_id, Attachment.id.in_(attachment_ids))
        .returning(Attachment.id)
    )
    return list(result.scalars().all())


async def get_unscoped(
    session: AsyncSession, attachment_id: uuid.UUID, *, for_update: bool = False
) -> Attachment | None:
    query = select(Attachment).where(Attachment.id == attachment_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def stuck(
    session: AsyncSession, *, unchanged_since: datetime, max_requeues: int, limit: int = 500
) -> Sequence[Attachment]:
    """Attachments of every organization left pending or processing since before
    ``unchanged_since`` and queued again fewer than ``max_requeues`` times (locked; for the
    sweeper)."""
    query = (
        select(Attachment)
        .where(
            Attachment.processing_status.in_(
                [ProcessingStatus.PENDING, ProcessingStatus.PROCESSING]
            ),
            Attachment.updated_at < unchanged_since,
            Attachment.processing_requeues < max_requeues,
        )
        .order_by(Attachment.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()
