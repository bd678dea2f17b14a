"""What the AI made of a ticket, as the caller may see it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage import similar_repository as similar_repo
from ticketcreator.ai.triage.config import runtime_config
from ticketcreator.ai.triage.models import AIDecision
from ticketcreator.ai.triage.proposals import ANALYSIS
from ticketcreator.ai.triage.schemas import (
    DecisionRead,
    SimilarTicket,
    SuggestionRead,
    TicketAIRead,
)
from ticketcreator.ai.triage.similar import past_resolutions
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.models import Ticket


async def ticket_ai(session: AsyncSession, principal: Principal, ticket: Ticket) -> TicketAIRead:
    _, settings = await runtime_config(session, ticket.organization_id)
    decisions = await repo.decisions(session, ticket.id)
    latest: dict[str, AIDecision] = {}
    for decision in decisions:
        latest.setdefault(decision.agent, decision)
    analysed = latest.get(ANALYSIS)
    summary = latest.get("summary")
    neighbours = await similar_repo.similar_tickets(
        session, tickets.visibility(principal), ticket.id, settings.similar_limit
    )
    named = {
        uuid.UUID(item["ticket_id"])
        for decision in decisions
        for item in decision.output.get("similar") or ()
    }
    visible = {str(id_) for id_ in await tickets.visible_ids(session, principal, named)}
    return TicketAIRead(
        ticket_id=ticket.id,
        summary=summary.output.get("summary") if summary else None,
        language=analysed.output.get("language") if analysed else None,
        sentiment=analysed.output.get("sentiment") if analysed else None,
        entities=analysed.output.get("entities", {}) if analysed else {},
        suggested_title=(
            summary.output.get("title")
            if summary and analysed and analysed.output.get("title_problem")
            else None
        ),
        similar=[
            SimilarTicket(
                ticket_id=n.ticket_id,
                key=f"T-{n.number}",
                title=n.title,
                similarity=round(n.similarity, 4),
                possible_duplicate=n.similarity >= settings.duplicate_threshold,
            )
            for n in neighbours
        ],
        suggestions=[
            SuggestionRead.model_validate(s) for s in await repo.suggestions(session, ticket.id)
        ],
        decisions=[_decision_read(d, visible) for d in decisions],
        **await past_resolutions(session, principal, ticket),
    )


def _decision_read(decision: AIDecision, visible: set[str]) -> DecisionRead:
    """A stored decision as the caller may see it: similar tickets they may not see left out."""
    read = DecisionRead.model_validate(decision)
    similar = read.output.get("similar")
    if similar is not None:
        shown = [item for item in similar if item["ticket_id"] in visible]
        read.output = {**read.output, "similar": shown}
    return read
