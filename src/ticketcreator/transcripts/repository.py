"""Queries on attachment text. Lookups for callers are scoped to their organization; the
worker's lookups carry their own authority (an event about that attachment)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Organization
from ticketcreator.attachments.models import Attachment
from ticketcreator.transcripts.models import AttachmentText, TextSource


def add(session: AsyncSession, text: AttachmentText) -> None:
    session.add(text)


async def claim_attachment(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment | None:
    """The attachment, locked for this transaction; None if it is gone or another worker is
    extracting its text right now (that worker will finish the job)."""
    query = (
        select(Attachment).where(Attachment.id == attachment_id).with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).first()


async def get(
    session: AsyncSession, attachment_id: uuid.UUID, source: TextSource
) -> AttachmentText | None:
    return await session.get(AttachmentText, (attachment_id, source))


async def of_attachments(
    session: AsyncSession, attachment_ids: Sequence[uuid.UUID]
) -> list[AttachmentText]:
    if not attachment_ids:
        return []
    query = (
        select(AttachmentText)
        .where(AttachmentText.attachment_id.in_(attachment_ids))
        .order_by(AttachmentText.created_at)
    )
    return list((await session.scalars(query)).all())


async def organization_settings(
    session: AsyncSession, organization_id: uuid.UUID
) -> dict[str, Any]:
    settings = await session.scalar(
        select(Organization.settings).where(Organization.id == organization_id)
    )
    return dict(settings or {})
