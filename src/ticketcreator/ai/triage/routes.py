"""REST API of AI triage: a ticket's AI view, re-runs, suggestions, configuration, models."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from ticketcreator.accounts.audit import Origin
from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.ai.triage import (
    accuracy,
    config,
    reading,
    service,
    similar,
    suggestions,
    training,
)
from ticketcreator.ai.triage.errors import InvalidAIConfig, SuggestionDecided
from ticketcreator.ai.triage.schemas import (
    AIAccuracyRead,
    AIConfigPatch,
    AIConfigRead,
    DraftMatches,
    DraftReport,
    ModelList,
    SuggestionRead,
    TicketAIRead,
    TrainingQueued,
    TriageQueued,
)
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.tickets.deps import CanRead, CanWrite, ReadableTicket, WritableTicket
from ticketcreator.tickets.errors import InvalidReference

CanCreate = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_CREATE))]
CanReadConfig = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_READ))]
CanManage = Annotated[Principal, Depends(Authorizer(Permission.AI_MANAGE))]
_AUTH = (Unauthorized, Forbidden)
_TICKET = (*_AUTH, NotFound)

router = APIRouter(route_class=UnitOfWorkRoute)


def _origin(request: Request) -> Origin:
    return Origin.of(request)


@router.get(
    "/tickets/{ticket_ref}/ai",
    tags=["ai"],
    response_model=TicketAIRead,
    responses=documented(*_TICKET),
)
async def get_ticket_ai(
    ticket: ReadableTicket, session: Session, principal: CanRead
) -> TicketAIRead:
    """What the AI made of the ticket: summary, language, sentiment, entities, similar tickets
    (possible duplicates flagged), suggestions and every stored decision."""
    return await reading.ticket_ai(session, principal, ticket)


@router.post(
    "/tickets/{ticket_ref}/ai/triage",
    tags=["ai"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriageQueued,
    responses=documented(*_TICKET),
)
async def retriage(ticket: ReadableTicket, session: Session, principal: CanWrite) -> TriageQueued:
    """Run triage again (on the `ai` queue); pending suggestions are replaced by the new run's."""
    service.request_triage(session, ticket)
    return TriageQueued(ticket_id=ticket.id)


@router.post(
    "/tickets/{ticket_ref}/ai/suggestions/{suggestion_id}/accept",
    tags=["ai"],
    response_model=SuggestionRead,
    responses=documented(*_TICKET, SuggestionDecided, InvalidReference),
)
async def accept_suggestion(
    ticket: WritableTicket, suggestion_id: uuid.UUID, session: Session, principal: CanWrite
) -> SuggestionRead:
    """Apply the suggested value to the ticket, as the caller."""
    suggestion = await suggestions.accept_suggestion(session, principal, ticket, suggestion_id)
    return SuggestionRead.model_validate(suggestion)


@router.post(
    "/tickets/{ticket_ref}/ai/suggestions/{suggestion_id}/reject",
    tags=["ai"],
    response_model=SuggestionRead,
    responses=documented(*_TICKET, SuggestionDecided),
)
async def reject_suggestion(
    ticket: ReadableTicket, suggestion_id: uuid.UUID, session: Session, principal: CanWrite
) -> SuggestionRead:
    """Dismiss the suggestion; the ticket is not changed."""
    suggestion = await suggestions.reject_suggestion(session, principal, ticket, suggestion_id)
    return SuggestionRead.model_validate(suggestion)


@router.get(
    "/ai/config",
    tags=["ai"],
    response_model=AIConfigRead,
    responses=documented(*_AUTH, InvalidAIConfig),
)
async def get_ai_config(session: Session, principal: CanManage) -> AIConfigRead:
    """The effective AI configuration of the organization, every secret masked."""
    return await config.get_config(session, principal)


@router.patch(
    "/ai/config",
    tags=["ai"],
    response_model=AIConfigRead,
    responses=documented(*_AUTH, InvalidAIConfig),
)
async def update_ai_config(
    patch: AIConfigPatch,
    session: Session,
    principal: CanManage,
    origin: Annotated[Origin, Depends(_origin)],
) -> AIConfigRead:
    """Change prompt templates, agent settings and triage settings for this organization.

    The result is validated like `config/ai_config.yaml` at start-up (every error names its
    key, e.g. `categorization_agent.confidence_threshold`), stored, and audited.
    """
    return await config.update_config(session, principal, patch, origin)


@router.post(
    "/ai/similar-tickets",
    tags=["ai"],
    response_model=DraftMatches,
    responses=documented(*_AUTH),
)
async def similar_to_draft(
    draft: DraftReport, session: Session, principal: CanCreate
) -> DraftMatches:
    """Before a report is filed: open tickets it looks like ("This looks like T-123, already
    being worked on"), among those the caller may see (a reporter: only their own)."""
    return await similar.draft_matches(session, principal, draft)


@router.get(
    "/ai/accuracy",
    tags=["ai"],
    response_model=AIAccuracyRead,
    responses=documented(*_AUTH),
)
async def get_accuracy(session: Session, principal: CanWrite) -> AIAccuracyRead:
    """How the organization's agents treated the AI's work over the last 30 days, per field
    (values applied, changed by a person, kept; suggestions accepted or rejected), and the
    active model's accuracy on the organization's held-back tickets. For agents and admins:
    reporters and viewers do not see how agents judge the AI."""
    return await accuracy.accuracy(session, principal)


@router.get(
    "/ai/models",
    tags=["ai"],
    response_model=ModelList,
    responses=documented(*_AUTH),
)
async def list_models(session: Session, principal: CanReadConfig) -> ModelList:
    """The organization's triage model versions with their held-back metrics, newest first."""
    return await training.list_models(session, principal)


@router.post(
    "/ai/models/train",
    tags=["ai"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingQueued,
    responses=documented(*_AUTH),
)
async def train_model(session: Session, principal: CanManage) -> TrainingQueued:
    """Train a new model version from the organization's labelled tickets (on the `ai` queue).

    It becomes active only if it beats zero-shot triage on held-back tickets.
    """
    training.request_training(session, principal)
    return TrainingQueued(organization_id=principal.organization_id)
