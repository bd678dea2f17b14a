"""Queries of per-organization models: stored versions, the training lock, labelled tickets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.ai.triage.models import OrganizationAIModel
from ticketcreator.ai.triage.repository import HUMAN, LABEL_FIELDS
from ticketcreator.tickets.models import Ticket, TicketEvent


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
            HUMAN,
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
            HUMAN,
            or_(TicketEvent.field.in_(LABEL_FIELDS), TicketEvent.kind == "created"),
            or_(last_trained.is_(None), TicketEvent.created_at > last_trained),
        )
        .distinct()
    )
    return list((await session.scalars(query)).all())


async def active_model_row(
    session: AsyncSession, organization_id: uuid.UUID
) -> OrganizationAIModel | None:
    query = select(OrganizationAIModel).where(
        OrganizationAIModel.organization_id == organization_id,
        OrganizationAIModel.active.is_(True),
    )
    return (await session.scalars(query)).first()
