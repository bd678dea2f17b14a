"""Choosing the agent of a team for a ticket: round-robin, least open tickets, or skills,
always within each agent's capacity and availability.

Concurrency: an assignment takes the team's advisory lock (assignments within a team run one
after the other, so round-robin stays fair however many workers assign at once), then, in
one statement, the best candidate whose agent lock ``pg_try_advisory_xact_lock`` gets, and
counts the agent's open tickets again under it in a statement of its own (whose snapshot
starts after the lock was taken). Both locks last until the transaction commits, when the
new assignment becomes visible to the next count: two workers never both give away an
agent's last free slot, even from two teams. An agent whose lock is held (by another team's
assignment) is skipped, never waited for, so locks are never taken in conflicting orders.
Three statements per assignment, whatever the size of the team."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.routing import agent_repository as agent_repo
from ticketcreator.routing.models import Strategy


@dataclass(frozen=True)
class Choice:
    team_id: uuid.UUID
    strategy: Strategy
    user_id: uuid.UUID | None
    open_tickets: int | None = None
    capacity: int | None = None
    score: int | None = None

    def explain(self) -> dict[str, object]:
        return {
            "team_id": str(self.team_id),
            "strategy": self.strategy.value,
            "user_id": str(self.user_id) if self.user_id else None,
            "open_tickets": self.open_tickets,
            "capacity": self.capacity,
            "skill_score": self.score if self.strategy is Strategy.SKILLS else None,
            "reason": None if self.user_id else "no available agent with a free slot",
        }


async def team_strategy(session: AsyncSession, team_id: uuid.UUID) -> Strategy:
    routing = await agent_repo.team_routing(session, team_id)
    return routing.strategy if routing else Strategy.ROUND_ROBIN


async def choose(
    session: AsyncSession,
    organization_id: uuid.UUID,
    team_id: uuid.UUID,
    strategy: Strategy | None,
    *,
    category_id: str | None,
    language: str | None,
    now: datetime,
    lock: bool = True,
) -> Choice:
    """The agent to assign (``user_id`` None when nobody can take it).

    With ``lock`` the choice is reserved for this transaction; without it (dry-run) it is
    only what would be chosen now.
    """
    settings = get_settings().routing
    if lock:
        configured = await agent_repo.lock_team(session, team_id)
        strategy = strategy or configured or Strategy.ROUND_ROBIN
    strategy = strategy or await team_strategy(session, team_id)
    full: list[uuid.UUID] = []  # locked, but filled meanwhile by another team's assignment
    while len(full) < settings.candidate_limit:
        candidate = await agent_repo.best_candidate(
            session,
            organization_id,
            team_id,
            strategy,
            default_capacity=settings.default_capacity,
            category_id=category_id,
            language=language,
            now=now,
            limit=settings.candidate_limit - len(full),
            lock=lock,
            skip=full,
        )
        if candidate is None:
            break
        if lock and not await agent_repo.take_slot(
            session, organization_id, team_id, candidate.user_id, candidate.capacity
        ):
            full.append(candidate.user_id)
            continue
        return Choice(
            team_id,
            strategy,
            candidate.user_id,
            candidate.open_tickets,
            candidate.capacity,
            candidate.score,
        )
    return Choice(team_id, strategy, None)
