"""Queries of AI triage; every one is scoped to an organization or to one of its tickets."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ticketcreator.accounts.models import Membership, Organization, User
from ticketcreator.ai.bugreport import CaptureFacts
from ticketcreator.ai.local.base import FloatArray
from ticketcreator.ai.triage.models import (
    AIDecision,
    AIFeedback,
    AISettings,
    AISpend,
    AISuggestion,
    OrganizationAIModel,
    SuggestionStatus,
    TicketEmbedding,
)
from ticketcreator.captures.models import Capture, CaptureAttachment
from ticketcreator.core.db import utcnow
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets.models import ActorKind, Comment, Status, Ticket, TicketEvent
from ticketcreator.tickets.repository import Visibility
from ticketcreator.transcripts.models import AttachmentText, TextStatus

# Ticket fields the AI sets and humans label.
LABEL_FIELDS = ("category_id", "priority", "type")
_HUMAN = TicketEvent.actor_kind.in_((ActorKind.USER, ActorKind.API_KEY))


async def organization_name(session: AsyncSession, organization_id: uuid.UUID) -> str:
    name = await session.scalar(select(Organization.name).where(Organization.id == organization_id))
    return name or ""


async def ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    """A live ticket with its tags."""
    query = (
        select(Ticket)
        .where(Ticket.id == ticket_id, Ticket.deleted_at.is_(None))
        .options(selectinload(Ticket.tags))
    )
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
        TicketEvent.ticket_id == ticket_id, _HUMAN, TicketEvent.kind != "created"
    )
    fields = {field for field in (await session.scalars(changed)).all() if field}
    created_with_category = select(literal(True)).where(
        TicketEvent.ticket_id == ticket_id,
        TicketEvent.kind == "created",
        _HUMAN,
        TicketEvent.new["category_id"].astext.is_not(None),
    )
    if await session.scalar(created_with_category):
        fields.add("category_id")
    return fields


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


async def active_model(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[uuid.UUID, int] | None:
    query = select(OrganizationAIModel.id, OrganizationAIModel.version).where(
        OrganizationAIModel.organization_id == organization_id,
        OrganizationAIModel.active.is_(True),
    )
    row = (await session.execute(query)).first()
    return (row.id, row.version) if row else None


async def model_blob(session: AsyncSession, model_id: uuid.UUID) -> bytes | None:
    query = select(OrganizationAIModel.blob).where(OrganizationAIModel.id == model_id)
    return await session.scalar(query)


async def models(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[OrganizationAIModel]:
    query = (
        select(OrganizationAIModel)
        .where(OrganizationAIModel.organization_id == organization_id)
        .order_by(OrganizationAIModel.version.desc())
    )
    return (await session.scalars(query)).all()


async def latest_model(
    session: AsyncSession, organization_id: uuid.UUID
) -> OrganizationAIModel | None:
    found = await models(session, organization_id)
    return found[0] if found else None


async def deactivate_models(session: AsyncSession, organization_id: uuid.UUID) -> None:
    await session.execute(
        update(OrganizationAIModel)
        .where(OrganizationAIModel.organization_id == organization_id)
        .values(active=False)
    )
    await session.flush()


async def try_training_lock(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    """A per-organization lock held until the transaction ends; False if someone trains."""
    query = text("SELECT pg_try_advisory_xact_lock(hashtext(:key))")
    return bool(await session.scalar(query, {"key": f"ai-training:{organization_id}"}))


@dataclass(frozen=True)
class LabelledRow:
    title: str
    description: str
    category: str
    priority: str
    type: str


async def labelled_tickets(session: AsyncSession, organization_id: uuid.UUID) -> list[LabelledRow]:
    """Live tickets with at least one label set by a person (unset labels are empty).

    A label is a category, priority or type a person changed, or a category they gave when
    creating the ticket; values only the AI set are not labels (it would learn from itself).
    """
    labelled = {name: func.bool_or(TicketEvent.field == name) for name in ("priority", "type")}
    category = func.bool_or(
        or_(
            TicketEvent.field == "category_id",
            (TicketEvent.kind == "created") & TicketEvent.new["category_id"].astext.is_not(None),
        )
    )
    query = (
        select(
            Ticket.title,
            Ticket.description,
            Ticket.category_id,
            Ticket.priority,
            Ticket.type,
            category.label("has_category"),
            labelled["priority"].label("has_priority"),
            labelled["type"].label("has_type"),
        )
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .where(
            Ticket.organization_id == organization_id,
            Ticket.deleted_at.is_(None),
            _HUMAN,
            or_(TicketEvent.field.in_(LABEL_FIELDS), TicketEvent.kind == "created"),
        )
        .group_by(Ticket.id)
        .order_by(Ticket.created_at, Ticket.id)
    )
    rows = []
    for row in (await session.execute(query)).all():
        has_category = row.has_category and row.category_id is not None
        item = LabelledRow(
            title=row.title,
            description=row.description,
            category=str(row.category_id) if has_category else "",
            priority=row.priority.value if row.has_priority else "",
            type=row.type.value if row.has_type else "",
        )
        if item.category or item.priority or item.type:
            rows.append(item)
    return rows


async def organizations_with_labels_since(session: AsyncSession) -> list[uuid.UUID]:
    """Organizations whose people changed labels after their latest model was trained."""
    last_trained = (
        select(func.max(OrganizationAIModel.trained_at))
        .where(OrganizationAIModel.organization_id == TicketEvent.organization_id)
        .correlate(TicketEvent)
        .scalar_subquery()
    )
    query = (
        select(TicketEvent.organization_id)
        .where(
            _HUMAN,
            or_(TicketEvent.field.in_(LABEL_FIELDS), TicketEvent.kind == "created"),
            or_(last_trained.is_(None), TicketEvent.created_at > last_trained),
        )
        .distinct()
    )
    return list((await session.scalars(query)).all())


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


async def spent(
    session: AsyncSession,
    organization_id: uuid.UUID,
    since: datetime,
    ticket_id: uuid.UUID | None,
) -> float:
    query = select(func.coalesce(func.sum(AISpend.cost), 0.0)).where(
        AISpend.organization_id == organization_id, AISpend.at >= since
    )
    if ticket_id is not None:
        query = query.where(AISpend.ticket_id == ticket_id)
    return float(await session.scalar(query) or 0.0)


# A namespace for the advisory locks of AI spend, so they cannot meet another feature's keys.
_SPEND_LOCK_NAMESPACE = 0x41495350  # "AISP"


async def lock_spend(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Wait for, then hold until the transaction ends, the organization's spend lock.

    Reservations take it before summing and inserting, so they run one at a time per
    organization. The key is the namespace and a stable 32-bit hash of the organization id;
    two organizations whose hashes collide merely wait for each other.
    """
    digest = hashlib.blake2b(organization_id.bytes, digest_size=4).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(_SPEND_LOCK_NAMESPACE, key)))


async def settle_spend(
    session: AsyncSession, organization_id: uuid.UUID, spend_id: uuid.UUID, model: str, cost: float
) -> None:
    """Replace a reservation's estimate by the actual cost; a cost of 0 deletes it."""
    scope = (AISpend.id == spend_id, AISpend.organization_id == organization_id)
    if cost > 0:
        await session.execute(update(AISpend).where(*scope).values(model=model, cost=cost))
    else:
        await session.execute(delete(AISpend).where(*scope))


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


async def active_model_row(
    session: AsyncSession, organization_id: uuid.UUID
) -> OrganizationAIModel | None:
    query = select(OrganizationAIModel).where(
        OrganizationAIModel.organization_id == organization_id,
        OrganizationAIModel.active.is_(True),
    )
    return (await session.scalars(query)).first()


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
    organization, see :class:`~ticketcreator.tickets.repository.Visibility`), nearest first."""
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
