"""Queries the stream publisher needs: who is involved in a ticket, who uploaded a file."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments.models import Attachment
from ticketcreator.captures.models import Capture, CaptureAttachment
from ticketcreator.tickets.models import Ticket, Watcher
from ticketcreator.uploads.models import Upload

# (id, organization, reporter, assignee, watchers) of a ticket.
TicketRow = tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, uuid.UUID | None, list[uuid.UUID]]


async def tickets(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> list[TicketRow]:
    """(id, organization, reporter, assignee, watchers) of the tickets that still exist."""
    if not ticket_ids:
        return []
    rows = (
        await session.execute(
            select(Ticket.id, Ticket.organization_id, Ticket.reporter_id, Ticket.assignee_id).where(
                Ticket.id.in_(ticket_ids)
            )
        )
    ).all()
    watchers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for ticket_id, user_id in await session.execute(
        select(Watcher.ticket_id, Watcher.user_id).where(Watcher.ticket_id.in_(ticket_ids))
    ):
        watchers.setdefault(ticket_id, []).append(user_id)
    return [(row[0], row[1], row[2], row[3], watchers.get(row[0], [])) for row in rows]


async def attachment(
    session: AsyncSession, attachment_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID | None, list[uuid.UUID]] | None:
    """(organization, uploader, tickets it was captured into) of an attachment."""
    row = (
        await session.execute(
            select(Attachment.organization_id, Attachment.uploaded_by_user_id).where(
                Attachment.id == attachment_id
            )
        )
    ).first()
    if row is None:
        return None
    ticket_ids = await session.scalars(
        select(Capture.ticket_id)
        .join(CaptureAttachment, CaptureAttachment.capture_id == Capture.id)
        .where(CaptureAttachment.attachment_id == attachment_id)
        .distinct()
    )
    return row[0], row[1], list(ticket_ids)


async def upload(
    session: AsyncSession, upload_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(organization, uploader) of a resumable upload."""
    row = (
        await session.execute(
            select(Upload.organization_id, Upload.created_by_user_id).where(Upload.id == upload_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None
