"""Changes to many tickets at once, when a tag or a custom field of the organization is
deleted: every ticket concerned is locked in id order, changed and recorded in bulk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import utcnow
from ticketcreator.tickets.models import ActorKind, Ticket, TicketEvent, ticket_tag

Changed = tuple[uuid.UUID, int, int, Any]
"""A changed ticket: id, number, new version, and the value it lost."""


async def _change(
    session: AsyncSession,
    which: ColumnElement[bool],
    lost: ColumnElement[Any],
    values: dict[str, Any],
    event: dict[str, Any],
) -> list[Changed]:
    query = select(Ticket.id, Ticket.number, lost).where(which).order_by(Ticket.id)
    found: list[tuple[uuid.UUID, int, Any]] = [
        (row[0], row[1], row[2]) for row in await session.execute(query.with_for_update())
    ]
    if not found:
        return []
    now = utcnow()
    await session.execute(
        insert(TicketEvent),
        [
            {**event, "id": uuid.uuid4(), "ticket_id": id_, "old": old, "created_at": now}
            for id_, _, old in found
        ],
    )
    versions: dict[uuid.UUID, int] = dict(
        (
            await session.execute(
                update(Ticket)
                .where(Ticket.id.in_([id_ for id_, _, _ in found]))
                .values(version=Ticket.version + 1, updated_at=func.now(), **values)
                .returning(Ticket.id, Ticket.version)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    return [(id_, number, versions[id_], old) for id_, number, old in found]


def _event(
    organization_id: uuid.UUID,
    actor: tuple[uuid.UUID | None, uuid.UUID | None, ActorKind],
    kind: str,
    field: str,
) -> dict[str, Any]:
    user_id, api_key_id, actor_kind = actor
    return {
        "organization_id": organization_id,
        "actor_user_id": user_id,
        "actor_api_key_id": api_key_id,
        "actor_kind": actor_kind,
        "kind": kind,
        "field": field,
        "new": None,
        "internal": False,
    }


async def untag_all(
    session: AsyncSession,
    organization_id: uuid.UUID,
    tag_id: uuid.UUID,
    tag_name: str,
    actor: tuple[uuid.UUID | None, uuid.UUID | None, ActorKind],
) -> Sequence[Changed]:
    """Record an ``untagged`` event on every ticket carrying the tag and bump its version
    (the tag's rows go with the tag)."""
    carrying = (Ticket.organization_id == organization_id) & Ticket.id.in_(
        select(ticket_tag.c.ticket_id).where(ticket_tag.c.tag_id == tag_id)
    )
    lost = literal(tag_name, JSONB)
    return await _change(
        session, carrying, lost, {}, _event(organization_id, actor, "untagged", "tags")
    )


async def drop_field_everywhere(
    session: AsyncSession,
    organization_id: uuid.UUID,
    key: str,
    actor: tuple[uuid.UUID | None, uuid.UUID | None, ActorKind],
) -> Sequence[Changed]:
    """Remove a custom field's value from every ticket holding one, recording each change."""
    holding = (Ticket.organization_id == organization_id) & Ticket.custom_fields.has_key(key)
    dropped = {"custom_fields": Ticket.custom_fields.op("-", return_type=JSONB)(literal(key))}
    event = _event(organization_id, actor, "updated", f"custom_fields.{key}")
    return await _change(session, holding, Ticket.custom_fields[key], dropped, event)
