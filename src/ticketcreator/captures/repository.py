"""Queries on captures. Each lookup for a caller is filtered by their organization; whether
they may see the capture's ticket is decided by the tickets service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ticketcreator.attachments.models import Attachment
from ticketcreator.captures.models import Capture, CaptureAttachment
from ticketcreator.tickets.models import Ticket, TicketEvent
from ticketcreator.tickets.visibility import Visibility


def add(session: AsyncSession, capture: Capture, attachment_ids: Sequence[uuid.UUID]) -> None:
    session.add(capture)
    session.add_all(
        CaptureAttachment(capture_id=capture.id, attachment_id=attachment_id, position=position)
        for position, attachment_id in enumerate(attachment_ids)
    )


async def attachments_in(
    session: AsyncSession, organization_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> list[Attachment]:
    query = select(Attachment).where(
        Attachment.organization_id == organization_id, Attachment.id.in_(attachment_ids)
    )
    return list((await session.scalars(query)).all())


async def get(
    session: AsyncSession, organization_id: uuid.UUID, capture_id: uuid.UUID
) -> Capture | None:
    query = select(Capture).where(
        Capture.id == capture_id, Capture.organization_id == organization_id
    )
    return (await session.scalars(query)).first()


async def of_ticket(session: AsyncSession, ticket: Ticket) -> list[Capture]:
    query = (
        select(Capture)
        .where(Capture.organization_id == ticket.organization_id, Capture.ticket_id == ticket.id)
        .order_by(Capture.created_at, Capture.id)
    )
    return list((await session.scalars(query)).all())


async def media_of(
    session: AsyncSession, capture_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    """Each capture's attachments in the order they were sent."""
    if not capture_ids:
        return {}
    query = (
        select(CaptureAttachment.capture_id, Attachment)
        .join(Attachment, Attachment.id == CaptureAttachment.attachment_id)
        .where(CaptureAttachment.capture_id.in_(capture_ids))
        .order_by(CaptureAttachment.capture_id, CaptureAttachment.position)
    )
    media: dict[uuid.UUID, list[Attachment]] = {capture_id: [] for capture_id in capture_ids}
    for capture_id, attachment in (await session.execute(query)).all():
        media[capture_id].append(attachment)
    return media


async def attachments_only_of(session: AsyncSession, ticket: Ticket) -> list[uuid.UUID]:
    """The attachments of the ticket's captures that no capture of another ticket uses."""
    other, other_capture = aliased(CaptureAttachment), aliased(Capture)
    elsewhere = (
        select(literal(True))
        .select_from(other)
        .join(other_capture, other_capture.id == other.capture_id)
        .where(
            other.attachment_id == CaptureAttachment.attachment_id,
            other_capture.ticket_id != ticket.id,
        )
        .exists()
    )
    query = (
        select(CaptureAttachment.attachment_id)
        .join(Capture, Capture.id == CaptureAttachment.capture_id)
        .where(
            Capture.organization_id == ticket.organization_id,
            Capture.ticket_id == ticket.id,
            ~elsewhere,
        )
        .distinct()
    )
    return list((await session.scalars(query)).all())


async def on_visible_ticket(
    session: AsyncSession, visibility: Visibility, attachment_id: uuid.UUID
) -> bool:
    """Whether the attachment belongs to a capture of a live ticket the caller may see."""
    query = (
        select(literal(True))
        .select_from(CaptureAttachment)
        .join(Capture, Capture.id == CaptureAttachment.capture_id)
        .join(Ticket, Ticket.id == Capture.ticket_id)
        .where(
            CaptureAttachment.attachment_id == attachment_id,
            visibility.tickets(),
            Ticket.deleted_at.is_(None),
        )
        .limit(1)
    )
    return bool(await session.scalar(query))


async def with_attachment(session: AsyncSession, attachment_id: uuid.UUID) -> list[Capture]:
    """The captures an attachment belongs to, on tickets that are not deleted."""
    query = (
        select(Capture)
        .join(CaptureAttachment, CaptureAttachment.capture_id == Capture.id)
        .join(Ticket, Ticket.id == Capture.ticket_id)
        .where(CaptureAttachment.attachment_id == attachment_id, Ticket.deleted_at.is_(None))
        .order_by(Capture.created_at)
    )
    return list((await session.scalars(query)).all())


def add_event(session: AsyncSession, event: TicketEvent) -> None:
    """A ticket timeline entry about a capture."""
    session.add(event)
