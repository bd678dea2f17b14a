"""Suggestions of the AI that a person accepts or rejects."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage.errors import SuggestionDecided
from ticketcreator.ai.triage.models import AISuggestion, SuggestionStatus
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.models import Ticket
from ticketcreator.tickets.schemas import TicketUpdate


async def _pending(session: AsyncSession, ticket: Ticket, suggestion_id: uuid.UUID) -> AISuggestion:
    suggestion = await repo.suggestion(session, ticket.id, suggestion_id, lock=True)
    if suggestion is None:
        raise NotFound("No such suggestion on this ticket.")
    if suggestion.status is not SuggestionStatus.PENDING:
        raise SuggestionDecided(
            f"The suggestion was already {suggestion.status.value}.",
            status=suggestion.status.value,
        )
    return suggestion


async def accept_suggestion(
    session: AsyncSession, principal: Principal, ticket: Ticket, suggestion_id: uuid.UUID
) -> AISuggestion:
    """Apply the suggested value as the caller (a person's choice, so also a label)."""
    suggestion = await _pending(session, ticket, suggestion_id)
    if suggestion.field == "tags":
        await tickets.change_tags(session, principal, ticket, add=[suggestion.value])
    else:
        update = TicketUpdate.model_validate({suggestion.field: suggestion.value})
        await tickets.update_ticket(session, principal, ticket, update, None)
    return _decide(suggestion, principal, SuggestionStatus.ACCEPTED)


async def reject_suggestion(
    session: AsyncSession, principal: Principal, ticket: Ticket, suggestion_id: uuid.UUID
) -> AISuggestion:
    suggestion = await _pending(session, ticket, suggestion_id)
    return _decide(suggestion, principal, SuggestionStatus.REJECTED)


def _decide(
    suggestion: AISuggestion, principal: Principal, status: SuggestionStatus
) -> AISuggestion:
    suggestion.status = status
    suggestion.decided_by = principal.user_id
    suggestion.decided_at = utcnow()
    return suggestion
