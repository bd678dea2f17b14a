"""Queries of AI triage runs: what they read of a ticket, their decisions and suggestions, and
the organization's settings; every one is scoped to an organization or to one of its tickets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ticketcreator.accounts.models import Organization
from ticketcreator.ai.bugreport import CaptureFacts
from ticketcreator.ai.triage.models import (
    AIDecision,
    AIFeedback,
    AISettings,
    AISuggestion,
    SuggestionStatus,
)
from ticketcreator.captures.models import Capture, CaptureAttachment
from ticketcreator.taxonomy.models import Category
from ticketcreator.tickets.models import ActorKind, Comment, Ticket, TicketEvent
from ticketcreator.transcripts.models import AttachmentText, TextStatus

# Ticket fields the AI sets and humans label.
LABEL_FIELDS = ("category_id", "priority", "type")
# Ticket events a person made (directly or through an API key).
HUMAN = TicketEvent.actor_kind.in_((ActorKind.USER, ActorKind.API_KEY))


async def organization_name(session: AsyncSession, organization_id: uuid.UUID) -> str:
    name = await session.scalar(select(Organization.name).where(Organization.id == organization_id))
    return name or ""


async def ticket(
    session: AsyncSession, ticket_id: uuid.UUID, *, lock: bool = False
) -> Ticket | None:
    """A live ticket with its tags (``lock``: locked, and read again if the session had it)."""
    query = (
        select(Ticket)
        .where(Ticket.id == ticket_id, Ticket.deleted_at.is_(None))
        .options(selectinload(Ticket.tags))
    )
    if lock:
        query = query.with_for_update(of=Ticket).execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def public_comments(session: AsyncSession, ticket_id: uuid.UUID) -> list[str]:
    query = (
        select(Comment.body)
        .where(
            Comment.ticket_id == ticket_id,
            Comment.internal.is_(False),
            Comment.deleted_at.is_(None),
        )
        .order_by(Comment.created_at)
    )
    return list((await session.scalars(query)).all())


async def capture_texts(session: AsyncSession, ticket_id: uuid.UUID) -> list[str]:
    """Transcripts and OCR text of the ticket's captures that are ready, in capture order."""
    query = (
        select(AttachmentText.text)
        .join(CaptureAttachment, CaptureAttachment.attachment_id == AttachmentText.attachment_id)
        .join(Capture, Capture.id == CaptureAttachment.capture_id)
        .where(
            Capture.ticket_id == ticket_id,
            AttachmentText.status == TextStatus.READY,
            AttachmentText.text != "",
        )
        .order_by(Capture.created_at, CaptureAttachment.position, AttachmentText.source)
    )
    return list((await session.scalars(query)).all())


async def capture_facts(session: AsyncSession, ticket_id: uuid.UUID) -> list[CaptureFacts]:
    """Page, user steps, console and network log of the ticket's captures, oldest first."""
    query = (
        select(
            Capture.page_url, Capture.page_title, Capture.steps, Capture.console, Capture.network
        )
        .where(Capture.ticket_id == ticket_id)
        .order_by(Capture.created_at)
    )
    return [
        CaptureFacts(
            page_url=row.page_url,
            page_title=row.page_title,
            steps=row.steps or [],
            console=row.console or [],
            requests=(row.network or {}).get("entries", []),
        )
        for row in (await session.execute(query)).all()
    ]


async def title_generated(session: AsyncSession, ticket_id: uuid.UUID) -> bool:
    """Whether the extension made the ticket's title (the reporter gave none)."""
    query = select(literal(True)).where(
        Capture.ticket_id == ticket_id, Capture.title_generated.is_(True)
    )
    return bool(await session.scalar(query.limit(1)))


async def categories(session: AsyncSession, organization_id: uuid.UUID) -> Sequence[Category]:
    query = select(Category).where(Category.organization_id == organization_id)
    return (await session.scalars(query.order_by(Category.name))).all()


async def human_set_fields(session: AsyncSession, ticket_id: uuid.UUID) -> set[str]:
    """Fields of the ticket a person has set: changed by them, or a category given at creation."""
    changed = select(TicketEvent.field).where(
        TicketEvent.ticket_id == ticket_id, HUMAN, TicketEvent.kind != "created"
    )
    fields = {field for field in (await session.scalars(changed)).all() if field}
    created_with_category = select(literal(True)).where(
        TicketEvent.ticket_id == ticket_id,
        TicketEvent.kind == "created",
        HUMAN,
        TicketEvent.new["category_id"].astext.is_not(None),
    )
    if await session.scalar(created_with_category):
        fields.add("category_id")
    return fields


async def decisions(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[AIDecision]:
    query = (
        select(AIDecision)
        .where(AIDecision.ticket_id == ticket_id)
        .order_by(AIDecision.created_at.desc(), AIDecision.agent)
    )
    return (await session.scalars(query)).all()


async def latest_applied(
    session: AsyncSession, ticket_id: uuid.UUID, field: str
) -> AIDecision | None:
    """The latest decision that set ``field`` on the ticket."""
    query = (
        select(AIDecision)
        .where(AIDecision.ticket_id == ticket_id, AIDecision.applied_fields.has_key(field))
        .order_by(AIDecision.created_at.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def suggestions(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[AISuggestion]:
    query = (
        select(AISuggestion)
        .where(AISuggestion.ticket_id == ticket_id)
        .order_by(AISuggestion.created_at.desc(), AISuggestion.field)
    )
    return (await session.scalars(query)).all()


async def drop_pending_suggestions(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Pending suggestions are replaced by those of a new triage run."""
    await session.execute(
        delete(AISuggestion).where(
            AISuggestion.ticket_id == ticket_id,
            AISuggestion.status == SuggestionStatus.PENDING,
        )
    )


async def suggestion(
    session: AsyncSession, ticket_id: uuid.UUID, suggestion_id: uuid.UUID, *, lock: bool = False
) -> AISuggestion | None:
    query = select(AISuggestion).where(
        AISuggestion.id == suggestion_id, AISuggestion.ticket_id == ticket_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def settings(
    session: AsyncSession, organization_id: uuid.UUID, *, lock: bool = False
) -> AISettings | None:
    query = select(AISettings).where(AISettings.organization_id == organization_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def applied_since(
    session: AsyncSession, organization_id: uuid.UUID, since: datetime
) -> list[dict[str, Any]]:
    """The fields and values each AI decision of the organization applied since ``since``."""
    query = select(AIDecision.applied_fields).where(
        AIDecision.organization_id == organization_id,
        AIDecision.created_at >= since,
        AIDecision.applied.is_(True),
    )
    return list((await session.scalars(query)).all())


async def feedback_counts(
    session: AsyncSession, organization_id: uuid.UUID, since: datetime
) -> dict[str, int]:
    """Per field, how many AI values people changed since ``since``."""
    query = (
        select(AIFeedback.field, func.count())
        .where(AIFeedback.organization_id == organization_id, AIFeedback.created_at >= since)
        .group_by(AIFeedback.field)
    )
    return {row[0]: int(row[1]) for row in (await session.execute(query)).all()}


async def suggestion_counts(
    session: AsyncSession, organization_id: uuid.UUID, since: datetime
) -> dict[tuple[str, SuggestionStatus], int]:
    """Per field and status, the AI's suggestions since ``since``."""
    query = (
        select(AISuggestion.field, AISuggestion.status, func.count())
        .where(AISuggestion.organization_id == organization_id, AISuggestion.created_at >= since)
        .group_by(AISuggestion.field, AISuggestion.status)
    )
    return {(row[0], row[1]): int(row[2]) for row in (await session.execute(query)).all()}
