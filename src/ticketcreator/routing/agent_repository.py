"""Queries of team strategies, agents and skills, and the candidate search of assignment; each
filters by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, delete, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership, User
from ticketcreator.routing.models import (
    AgentProfile,
    AgentSkill,
    AssignmentCursor,
    Availability,
    SkillKind,
    Strategy,
    TeamRouting,
)
from ticketcreator.taxonomy.models import TeamMember
from ticketcreator.tickets.models import Ticket

# models.OPEN_TICKET, qualified: the counts run inside queries that join other tables.
_OPEN = text("ticket.deleted_at IS NULL AND ticket.status IN ('open', 'in_progress', 'waiting')")
AGENT_ROLES = ("owner", "admin", "agent")


async def team_routing(session: AsyncSession, team_id: uuid.UUID) -> TeamRouting | None:
    row: TeamRouting | None = await session.get(TeamRouting, team_id)
    return row


async def agent_role(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    role = await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return str(role.value) if role is not None else None


async def get_profile(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> AgentProfile | None:
    row: AgentProfile | None = await session.get(AgentProfile, (organization_id, user_id))
    return row


async def skills(
    session: AsyncSession, organization_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> Sequence[AgentSkill]:
    rows = await session.scalars(
        select(AgentSkill)
        .where(AgentSkill.organization_id == organization_id, AgentSkill.user_id.in_(user_ids))
        .order_by(AgentSkill.user_id, AgentSkill.kind, AgentSkill.value)
    )
    return rows.all()


async def replace_skills(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    entries: Sequence[tuple[SkillKind, str, int]],
) -> None:
    await session.execute(
        delete(AgentSkill).where(
            AgentSkill.organization_id == organization_id, AgentSkill.user_id == user_id
        )
    )
    session.add_all(
        AgentSkill(organization_id=organization_id, user_id=user_id, kind=k, value=v, level=lv)
        for k, v, lv in entries
    )
    await session.flush()


@dataclass(frozen=True)
class AgentRow:
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    capacity: int
    availability: Availability
    away_until: datetime | None
    open_tickets: int


def _open_count(organization_id: Any, user_id: Any) -> Any:
    """The agent's open tickets. The predicate is literal SQL, the one of the partial index
    ``ix_ticket_open_assignee``: with bound parameters a prepared (generic) plan could not
    use that index, and the count would read every assigned ticket from the table."""
    return (
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.assignee_id == user_id,
            Ticket.organization_id == organization_id,
            _OPEN,
        )
        .scalar_subquery()
    )


async def list_agents(
    session: AsyncSession, organization_id: uuid.UUID, default_capacity: int
) -> list[AgentRow]:
    open_count = _open_count(organization_id, Membership.user_id)
    rows = await session.execute(
        select(
            Membership.user_id,
            User.name,
            User.email,
            Membership.role,
            func.coalesce(AgentProfile.capacity, default_capacity),
            func.coalesce(AgentProfile.availability, Availability.ONLINE),
            AgentProfile.away_until,
            open_count,
        )
        .join(User, User.id == Membership.user_id)
        .outerjoin(
            AgentProfile,
            and_(
                AgentProfile.organization_id == organization_id,
                AgentProfile.user_id == Membership.user_id,
            ),
        )
        .where(Membership.organization_id == organization_id, Membership.role.in_(AGENT_ROLES))
        .order_by(User.name, Membership.user_id)
    )
    return [
        AgentRow(r[0], r[1], r[2], str(r[3].value), int(r[4]), Availability(r[5]), r[6], int(r[7]))
        for r in rows.all()
    ]


@dataclass(frozen=True)
class Candidate:
    user_id: uuid.UUID
    capacity: int
    open_tickets: int
    score: int


async def candidates(
    session: AsyncSession,
    organization_id: uuid.UUID,
    team_id: uuid.UUID,
    strategy: Strategy,
    default_capacity: int,
    category_id: str | None,
    language: str | None,
    now: datetime,
    limit: int,
) -> list[Candidate]:
    """Members of the team who may take a ticket now and have a free slot, best first.

    Available: no profile (online by default), online, or away past their ``away_until``.
    Order: round-robin by the team's last assignment to each (never first); least open
    tickets; skills by the summed levels of matching category and language skills.
    """
    open_count = _open_count(organization_id, TeamMember.user_id).label("open_count")
    capacity = func.coalesce(AgentProfile.capacity, default_capacity).label("capacity")
    skill_match = [
        and_(AgentSkill.kind == SkillKind.CATEGORY, AgentSkill.value == (category_id or "")),
        and_(AgentSkill.kind == SkillKind.LANGUAGE, AgentSkill.value == (language or "")),
    ]
    score = (
        select(func.coalesce(func.sum(AgentSkill.level), 0))
        .where(
            AgentSkill.organization_id == organization_id,
            AgentSkill.user_id == TeamMember.user_id,
            or_(*skill_match),
        )
        .scalar_subquery()
        if strategy is Strategy.SKILLS
        else literal(0, Integer)
    ).label("score")
    inner = (
        select(
            TeamMember.user_id.label("user_id"),
            capacity,
            open_count,
            score,
            AssignmentCursor.last_assigned_at.label("last_assigned_at"),
        )
        .join(
            Membership,
            and_(
                Membership.user_id == TeamMember.user_id,
                Membership.organization_id == organization_id,
                Membership.role.in_(AGENT_ROLES),
            ),
        )
        .outerjoin(
            AgentProfile,
            and_(
                AgentProfile.organization_id == organization_id,
                AgentProfile.user_id == TeamMember.user_id,
            ),
        )
        .outerjoin(
            AssignmentCursor,
            and_(
                AssignmentCursor.team_id == team_id,
                AssignmentCursor.user_id == TeamMember.user_id,
            ),
        )
        .where(
            TeamMember.team_id == team_id,
            or_(
                AgentProfile.user_id.is_(None),
                AgentProfile.availability == Availability.ONLINE,
                and_(
                    AgentProfile.availability == Availability.AWAY,
                    AgentProfile.away_until.is_not(None),
                    AgentProfile.away_until <= now,
                ),
            ),
        )
        .subquery()
    )
    last = inner.c.last_assigned_at.asc().nulls_first()
    order = {
        Strategy.ROUND_ROBIN: (last, inner.c.user_id),
        Strategy.LEAST_OPEN: (inner.c.open_count, last, inner.c.user_id),
        Strategy.SKILLS: (inner.c.score.desc(), inner.c.open_count, last, inner.c.user_id),
    }[strategy]
    rows = await session.execute(
        select(inner.c.user_id, inner.c.capacity, inner.c.open_count, inner.c.score)
        .where(inner.c.open_count < inner.c.capacity)
        .order_by(*order)
        .limit(limit)
    )
    return [Candidate(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows.all()]


async def lock_team(session: AsyncSession, team_id: uuid.UUID) -> Strategy | None:
    """Serialize assignments within a team until the transaction ends; returns the team's
    configured strategy (None: not set) in the same round trip."""
    strategy = select(TeamRouting.strategy).where(TeamRouting.team_id == team_id)
    row = (
        await session.execute(
            select(
                func.pg_advisory_xact_lock(func.hashtextextended(f"team:{team_id}", 0)),
                strategy.scalar_subquery(),
            )
        )
    ).one()
    return Strategy(row[1]) if row[1] is not None else None


async def try_lock_agent(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Hold the agent's assignment lock until the transaction ends; False if another holds it."""
    got = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"agent:{user_id}", 0)))
    )
    return bool(got)


async def take_slot(
    session: AsyncSession,
    organization_id: uuid.UUID,
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    capacity: int,
) -> bool:
    """Count the agent's open tickets afresh and, if one slot is free, record the assignment
    in the team's round-robin order; one statement, run under the agent's lock (its snapshot
    starts after the lock was taken, so it sees every assignment committed before)."""
    moment = func.clock_timestamp()
    free = select(literal(team_id), literal(user_id), moment).where(
        _open_count(organization_id, user_id) < capacity
    )
    result = await session.execute(
        insert(AssignmentCursor)
        .from_select(["team_id", "user_id", "last_assigned_at"], free)
        .on_conflict_do_update(
            index_elements=[AssignmentCursor.team_id, AssignmentCursor.user_id],
            set_={"last_assigned_at": moment},
        )
        .returning(AssignmentCursor.user_id)
    )
    return result.first() is not None
