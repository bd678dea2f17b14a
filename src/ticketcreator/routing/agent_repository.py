"""Queries of team strategies, agents and skills, and the candidate search of assignment; each
filters by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    Select,
    String,
    Uuid,
    all_,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
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


def _best_candidate(strategy: Strategy, lock: bool) -> Select[Any]:
    """The statement of :func:`best_candidate` for one strategy (parameters bound later)."""
    organization_id = bindparam("organization_id", type_=Uuid)
    team_id = bindparam("team_id", type_=Uuid)
    open_count = _open_count(organization_id, TeamMember.user_id).label("open_count")
    capacity = func.coalesce(AgentProfile.capacity, bindparam("default_capacity", type_=Integer))
    skill_match = [
        and_(
            AgentSkill.kind == SkillKind.CATEGORY,
            AgentSkill.value == bindparam("category", type_=String),
        ),
        and_(
            AgentSkill.kind == SkillKind.LANGUAGE,
            AgentSkill.value == bindparam("language", type_=String),
        ),
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
    now = bindparam("now", type_=DateTime(timezone=True))
    members = (
        select(
            TeamMember.user_id.label("user_id"),
            capacity.label("capacity"),
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
            TeamMember.user_id != all_(bindparam("skip", type_=ARRAY(Uuid))),
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
    last = members.c.last_assigned_at.asc().nulls_first()
    order = {
        Strategy.ROUND_ROBIN: (last, members.c.user_id),
        Strategy.LEAST_OPEN: (members.c.open_count, last, members.c.user_id),
        Strategy.SKILLS: (members.c.score.desc(), members.c.open_count, last, members.c.user_id),
    }[strategy]
    ranked = (
        select(members.c.user_id, members.c.capacity, members.c.open_count, members.c.score)
        .where(members.c.open_count < members.c.capacity)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    query = select(ranked.c.user_id, ranked.c.capacity, ranked.c.open_count, ranked.c.score)
    if lock:  # tried best first; an agent another assignment holds is passed over
        key = func.hashtextextended(literal("agent:") + cast(ranked.c.user_id, String), 0)
        query = query.where(func.pg_try_advisory_xact_lock(key))
    return query.limit(1)


# Built once per strategy: an assignment runs one for every ticket.
_BEST = {(s, lock): _best_candidate(s, lock) for s in Strategy for lock in (False, True)}


async def best_candidate(
    session: AsyncSession,
    organization_id: uuid.UUID,
    team_id: uuid.UUID,
    strategy: Strategy,
    *,
    default_capacity: int,
    category_id: str | None,
    language: str | None,
    now: datetime,
    limit: int,
    lock: bool,
    skip: Sequence[uuid.UUID] = (),
) -> Candidate | None:
    """The member of the team who may take a ticket now and has a free slot, best first.

    Available: no profile (online by default), online, or away past their ``away_until``.
    Order: round-robin by the team's last assignment to each (never first); least open
    tickets; skills by the summed levels of matching category and language skills. With
    ``lock``, the first of the best ``limit`` whose assignment lock this transaction gets
    (``pg_try_advisory_xact_lock``, held until it ends); ``skip`` leaves agents out.
    """
    connection = await session.connection()  # prebuilt Core statements skip the ORM layer
    row = (
        await connection.execute(
            _BEST[(strategy, lock)],
            {
                "organization_id": organization_id,
                "team_id": team_id,
                "default_capacity": default_capacity,
                "category": category_id or "",
                "language": language or "",
                "now": now,
                "limit": limit,
                "skip": list(skip),
            },
        )
    ).first()
    return Candidate(row[0], int(row[1]), int(row[2]), int(row[3])) if row else None


def _lock_team() -> Select[Any]:
    team_id = bindparam("team_id", type_=Uuid)
    key = func.hashtextextended(literal("team:") + cast(team_id, String), 0)
    strategy = select(TeamRouting.strategy).where(TeamRouting.team_id == team_id)
    return select(func.pg_advisory_xact_lock(key), strategy.scalar_subquery())


def _take_slot() -> Any:
    team_id = bindparam("team_id", type_=Uuid)
    user_id = bindparam("user_id", type_=Uuid)
    moment = func.clock_timestamp()
    free = select(team_id, user_id, moment).where(
        _open_count(bindparam("organization_id", type_=Uuid), user_id)
        < bindparam("capacity", type_=Integer)
    )
    return (
        insert(AssignmentCursor)
        .from_select(["team_id", "user_id", "last_assigned_at"], free)
        .on_conflict_do_update(
            index_elements=[AssignmentCursor.team_id, AssignmentCursor.user_id],
            set_={"last_assigned_at": moment},
        )
        .returning(AssignmentCursor.user_id)
    )


_LOCK_TEAM = _lock_team()
_TAKE_SLOT = _take_slot()


async def lock_team(session: AsyncSession, team_id: uuid.UUID) -> Strategy | None:
    """Serialize assignments within a team until the transaction ends; returns the team's
    configured strategy (None: not set) in the same round trip."""
    connection = await session.connection()
    row = (await connection.execute(_LOCK_TEAM, {"team_id": team_id})).one()
    return Strategy(row[1]) if row[1] is not None else None


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
    connection = await session.connection()
    result = await connection.execute(
        _TAKE_SLOT,
        {
            "team_id": team_id,
            "user_id": user_id,
            "organization_id": organization_id,
            "capacity": capacity,
        },
    )
    return result.first() is not None
