"""Context from earlier tickets: resolved ones like a ticket, open ones like a draft."""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.ai.bugreport import clip
from ticketcreator.ai.local.triage import ticket_text
from ticketcreator.ai.triage import similar_repository as similar_repo
from ticketcreator.ai.triage.local_provider import embed
from ticketcreator.ai.triage.schemas import (
    DraftMatches,
    DraftReport,
    OpenMatch,
    PastResolution,
    SuggestedAssignee,
)
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.models import Status, Ticket

RESOLVED: Final = (Status.RESOLVED, Status.CLOSED)
WORKED_ON: Final = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING)
# MiniLM cosine above which an earlier ticket is about the same problem (paraphrases of one
# report score 0.6-0.9, unrelated reports of one product 0.1-0.4).
RELATED_SIMILARITY: Final = 0.6
_RESOLUTIONS: Final = 3


async def past_resolutions(
    session: AsyncSession, principal: Principal, ticket: Ticket
) -> dict[str, Any]:
    """The most similar resolved tickets the caller may see, with their last public reply,
    and (for agents) who resolved most of them."""
    vector = await similar_repo.stored_embedding(session, ticket.id)
    if vector is None:
        return {}
    nearby = await similar_repo.nearest_tickets(
        session,
        vector,
        tickets.visibility(principal).tickets(),
        RESOLVED,
        exclude=ticket.id,
        min_similarity=RELATED_SIMILARITY,
        limit=_RESOLUTIONS,
    )
    replies = await similar_repo.last_public_replies(session, [n.ticket_id for n in nearby])
    resolutions = [
        PastResolution(
            ticket_id=n.ticket_id,
            key=f"T-{n.number}",
            title=n.title,
            similarity=round(n.similarity, 4),
            resolution=clip(replies[n.ticket_id], 600) if n.ticket_id in replies else None,
            link=f"/v1/tickets/T-{n.number}",
        )
        for n in nearby
    ]
    assignee = None
    handlers = Counter((n.assignee_id, n.team_id) for n in nearby if n.assignee_id or n.team_id)
    if handlers and principal.can(Permission.TICKETS_WRITE):
        (user_id, team_id), count = handlers.most_common(1)[0]
        user_name, team_name = await similar_repo.names(
            session, ticket.organization_id, user_id, team_id
        )
        assignee = SuggestedAssignee(
            user_id=user_id,
            user_name=user_name,
            team_id=team_id,
            team_name=team_name,
            resolved=count,
        )
    return {"resolutions": resolutions, "suggested_assignee": assignee}


async def draft_matches(
    session: AsyncSession, principal: Principal, draft: DraftReport
) -> DraftMatches:
    """Open tickets the caller may see that a report being written looks like, before it is
    filed (a reporter sees only their own tickets)."""
    text = ticket_text(draft.title, draft.description)
    if not text:
        return DraftMatches(matches=[])
    nearby = await similar_repo.nearest_tickets(
        session,
        [float(x) for x in embed(text)[0]],
        tickets.visibility(principal).tickets(),
        WORKED_ON,
        exclude=None,
        min_similarity=RELATED_SIMILARITY,
        limit=_RESOLUTIONS,
    )
    return DraftMatches(
        matches=[
            OpenMatch(
                ticket_id=n.ticket_id,
                key=f"T-{n.number}",
                title=n.title,
                status=n.status,
                similarity=round(n.similarity, 4),
                message=(
                    f"This looks like T-{n.number}, already being worked on."
                    if n.status is Status.IN_PROGRESS
                    else f"This looks like T-{n.number}, already reported."
                ),
            )
            for n in nearby
        ]
    )
