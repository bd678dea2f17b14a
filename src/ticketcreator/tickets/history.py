"""What every change to a ticket leaves behind: a ``ticket_event`` row (its timeline) and an
outbox event that announces it, both in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core import journal
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.core.journal import json_value
from ticketcreator.tickets import history_repository
from ticketcreator.tickets.actors import actor_kind
from ticketcreator.tickets.models import ActorKind, Ticket, TicketEvent

Actor = tuple[uuid.UUID | None, uuid.UUID | None, ActorKind]
"""Who made a change: user id, API key id, kind of actor."""


def record(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    kind: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    *,
    internal: bool = False,
) -> None:
    """Add an event the caller made to the ticket's timeline."""
    actor = _actor(principal)
    add(session, ticket.organization_id, ticket.id, actor, kind, field, old, new, internal)


def add(
    session: AsyncSession,
    organization_id: uuid.UUID,
    ticket_id: uuid.UUID,
    actor: Actor,
    kind: str,
    field: str | None,
    old: Any,
    new: Any,
    internal: bool,
) -> None:
    """Add an event to a ticket's timeline, written with the transaction
    (:mod:`ticketcreator.core.journal`)."""
    user_id, api_key_id, kind_of_actor = actor
    row = {
        "id": uuid.uuid4(),
        "organization_id": organization_id,
        "ticket_id": ticket_id,
        "actor_user_id": user_id,
        "actor_api_key_id": api_key_id,
        "actor_kind": kind_of_actor,
        "kind": kind,
        "field": field,
        "old": json_value(old),
        "new": json_value(new),
        "internal": internal,
        "created_at": utcnow(),
    }
    journal.append(session, TicketEvent, row)


def publish(
    session: AsyncSession, principal: Principal, ticket: Ticket, topic: Topic, **details: Any
) -> None:
    """Announce the change (an outbox event of ``topic``)."""
    payload = {
        "ticket_id": str(ticket.id),
        "number": ticket.number,
        "key": ticket.key,
        "actor_user_id": json_value(principal.user_id),
        "actor_api_key_id": json_value(principal.api_key_id),
        "actor_kind": actor_kind(principal).value,
        **details,
    }
    emit(session, topic, payload, organization_id=ticket.organization_id)


async def untag_all(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    tag_id: uuid.UUID,
    name: str,
) -> int:
    """The tag is being deleted: every ticket carrying it records and announces the removal.
    Returns how many tickets changed."""
    changed = await history_repository.untag_all(
        session, organization_id, tag_id, name, _actor(principal)
    )
    _announce_each(session, principal, organization_id, "tags", changed)
    return len(changed)


async def drop_field_everywhere(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, key: str
) -> int:
    """The custom field is being deleted: every ticket holding a value loses it, records and
    announces the change. Returns how many tickets changed."""
    changed = await history_repository.drop_field_everywhere(
        session, organization_id, key, _actor(principal)
    )
    _announce_each(session, principal, organization_id, f"custom_fields.{key}", changed)
    return len(changed)


def _actor(principal: Principal) -> Actor:
    return principal.user_id, principal.api_key_id, actor_kind(principal)


def _announce_each(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    field: str,
    changed: Sequence[history_repository.Changed],
) -> None:
    for ticket_id, number, version, old in changed:
        ticket = Ticket(id=ticket_id, organization_id=organization_id, number=number)
        change = {"field": field, "old": old, "new": None}
        publish(session, principal, ticket, Topic.TICKET_UPDATED, changes=[change], version=version)
