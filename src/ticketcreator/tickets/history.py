"""What every change to a ticket leaves behind: a ``ticket_event`` row (its timeline) and an
outbox event that announces it, both in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.tickets.actors import actor_kind
from ticketcreator.tickets.models import Ticket, TicketEvent


def json_value(value: Any) -> Any:
    """``value`` as an event stores it: ids and enums as strings, times in ISO 8601."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


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
) -> TicketEvent:
    event = TicketEvent(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        actor_user_id=principal.user_id,
        actor_api_key_id=principal.api_key_id,
        actor_kind=actor_kind(principal),
        kind=kind,
        field=field,
        old=json_value(old),
        new=json_value(new),
        internal=internal,
        created_at=utcnow(),
    )
    session.add(event)
    return event


def publish(
    session: AsyncSession, principal: Principal, ticket: Ticket, topic: Topic, **details: Any
) -> None:
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
