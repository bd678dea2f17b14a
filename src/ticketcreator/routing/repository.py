"""Every query of routing, assignment and SLAs; each filters by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, and_, cast, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership, User
from ticketcreator.ai.triage.models import AIDecision
from ticketcreator.captures.models import Capture
from ticketcreator.core.db import utcnow
from ticketcreator.routing.models import (
    AgentProfile,
    AgentSkill,
    AssignmentCursor,
    Availability,
    BusinessCalendar,
    RoutingRule,
    RoutingRuleVersion,
    SkillKind,
    SlaPolicy,
    Strategy,
    TeamRouting,
    TicketSla,
    TicketSlaMetric,
)
from ticketcreator.taxonomy.models import TeamMember
from ticketcreator.tickets.models import ActorKind, Ticket, TicketEvent

# models.OPEN_TICKET, qualified: the counts run inside queries that join other tables.
_OPEN = text("ticket.deleted_at IS NULL AND ticket.status IN ('open', 'in_progress', 'waiting')")
AGENT_ROLES = ("owner", "admin", "agent")

# Rules


async def list_rules(
    session: AsyncSession, organization_id: uuid.UUID, *, enabled_only: bool = False
) -> Sequence[RoutingRule]:
    query = select(RoutingRule).where(RoutingRule.organization_id == organization_id)
    if enabled_only:
        query = query.where(RoutingRule.enabled)
    rows = await session.scalars(query.order_by(RoutingRule.position, RoutingRule.created_at))
    return rows.all()


async def get_rule(
    session: AsyncSession, organization_id: uuid.UUID, rule_id: uuid.UUID, *, lock: bool = False
) -> RoutingRule | None:
    query = select(RoutingRule).where(
        RoutingRule.id == rule_id, RoutingRule.organization_id == organization_id
    )
    if lock:
        query = query.with_for_update()
    rule: RoutingRule | None = await session.scalar(query)
    return rule


async def lock_rules(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Serialize changes to an organization's rule order."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"rules:{organization_id}", 0)))
    )


async def next_position(session: AsyncSession, organization_id: uuid.UUID) -> int:
    top = await session.scalar(
        select(func.max(RoutingRule.position)).where(RoutingRule.organization_id == organization_id)
    )
    return int(top) + 1 if top is not None else 0


async def rule_versions(
    session: AsyncSession, organization_id: uuid.UUID, rule_id: uuid.UUID
) -> Sequence[RoutingRuleVersion]:
    rows = await session.scalars(
        select(RoutingRuleVersion)
        .where(
            RoutingRuleVersion.rule_id == rule_id,
            RoutingRuleVersion.organization_id == organization_id,
        )
        .order_by(RoutingRuleVersion.version.desc())
    )
    return rows.all()


# Team strategies, agents, skills


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


# Calendars and policies


async def list_calendars(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[BusinessCalendar]:
    rows = await session.scalars(
        select(BusinessCalendar)
        .where(BusinessCalendar.organization_id == organization_id)
        .order_by(BusinessCalendar.name)
    )
    return rows.all()


async def get_calendar(
    session: AsyncSession, organization_id: uuid.UUID, calendar_id: uuid.UUID
) -> BusinessCalendar | None:
    row: BusinessCalendar | None = await session.scalar(
        select(BusinessCalendar).where(
            BusinessCalendar.id == calendar_id, BusinessCalendar.organization_id == organization_id
        )
    )
    return row


async def calendars_by_id(
    session: AsyncSession, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> Sequence[BusinessCalendar]:
    if not ids:
        return []
    rows = await session.scalars(
        select(BusinessCalendar).where(
            BusinessCalendar.organization_id == organization_id, BusinessCalendar.id.in_(ids)
        )
    )
    return rows.all()


async def calendar_in_use(session: AsyncSession, calendar_id: uuid.UUID) -> bool:
    used = await session.scalar(
        select(func.count()).select_from(SlaPolicy).where(SlaPolicy.calendar_id == calendar_id)
    )
    if used:
        return True
    # a rule's business_hours condition names it
    named = await session.scalar(
        select(func.count())
        .select_from(RoutingRule)
        .where(cast(RoutingRule.conditions, Text).contains(str(calendar_id)))
    )
    return bool(named)


async def list_policies(session: AsyncSession, organization_id: uuid.UUID) -> Sequence[SlaPolicy]:
    rows = await session.scalars(
        select(SlaPolicy)
        .where(SlaPolicy.organization_id == organization_id)
        .order_by(SlaPolicy.name)
    )
    return rows.all()


async def get_policy(
    session: AsyncSession, organization_id: uuid.UUID, policy_id: uuid.UUID
) -> SlaPolicy | None:
    row: SlaPolicy | None = await session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.id == policy_id, SlaPolicy.organization_id == organization_id
        )
    )
    return row


async def default_policy(session: AsyncSession, organization_id: uuid.UUID) -> SlaPolicy | None:
    row: SlaPolicy | None = await session.scalar(
        select(SlaPolicy).where(SlaPolicy.organization_id == organization_id, SlaPolicy.is_default)
    )
    return row


async def clear_default_policy(session: AsyncSession, organization_id: uuid.UUID) -> None:
    await session.execute(
        update(SlaPolicy)
        .where(SlaPolicy.organization_id == organization_id, SlaPolicy.is_default)
        .values(is_default=False)
    )
    await session.flush()


# Ticket SLA clocks


async def tickets_under(
    session: AsyncSession, policy_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    query = select(TicketSla.ticket_id).where(TicketSla.policy_id == policy_id)
    if after is not None:
        query = query.where(TicketSla.ticket_id > after)
    rows = await session.scalars(query.order_by(TicketSla.ticket_id).limit(limit))
    return list(rows.all())


async def drop_policy_clocks(session: AsyncSession, policy_id: uuid.UUID) -> None:
    """Remove the clocks of the tickets under a policy that is being deleted."""
    tickets = select(TicketSla.ticket_id).where(TicketSla.policy_id == policy_id)
    await session.execute(delete(TicketSlaMetric).where(TicketSlaMetric.ticket_id.in_(tickets)))
    await session.execute(delete(TicketSla).where(TicketSla.policy_id == policy_id))


async def ticket_sla(session: AsyncSession, ticket_id: uuid.UUID) -> TicketSla | None:
    row: TicketSla | None = await session.get(TicketSla, ticket_id)
    return row


async def ticket_metrics(session: AsyncSession, ticket_id: uuid.UUID) -> list[TicketSlaMetric]:
    rows = await session.scalars(
        select(TicketSlaMetric)
        .where(TicketSlaMetric.ticket_id == ticket_id)
        .order_by(TicketSlaMetric.metric)
    )
    return list(rows.all())


async def due_metrics(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[TicketSlaMetric]:
    """Clocks whose warning or due time has come: read from the partial index on
    ``next_check_at``, locked so that concurrent checkers take disjoint sets."""
    rows = await session.scalars(
        select(TicketSlaMetric)
        .where(TicketSlaMetric.next_check_at.is_not(None), TicketSlaMetric.next_check_at <= now)
        .order_by(TicketSlaMetric.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return rows.all()


@dataclass(frozen=True)
class DueTicket:
    number: int
    policy: SlaPolicy
    paused: bool


async def due_tickets(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, DueTicket]:
    """Number, policy and pause of the live tickets among ``ticket_ids``, in one query."""
    rows = await session.execute(
        select(Ticket.id, Ticket.number, SlaPolicy, TicketSla.paused_at)
        .join(TicketSla, TicketSla.ticket_id == Ticket.id)
        .join(SlaPolicy, SlaPolicy.id == TicketSla.policy_id)
        .where(Ticket.id.in_(ticket_ids), Ticket.deleted_at.is_(None))
    )
    return {row[0]: DueTicket(row[1], row[2], row[3] is not None) for row in rows.all()}


# Facts about a ticket


@dataclass(frozen=True)
class TicketContext:
    reporter_email: str | None
    page_urls: list[str]
    language: str | None
    confidence: dict[str, float]


async def ticket_context(session: AsyncSession, ticket: Ticket) -> TicketContext:
    """What rules read besides the ticket row, in one round trip: the reporter's address,
    the captured page URLs, and the language and confidences of the latest triage run."""
    email = select(User.email).where(User.id == ticket.reporter_id).scalar_subquery()
    urls = (
        select(func.array_agg(Capture.page_url))
        .where(Capture.ticket_id == ticket.id, Capture.page_url != "")
        .scalar_subquery()
    )
    latest = (
        select(AIDecision.run_id)
        .where(AIDecision.ticket_id == ticket.id)
        .order_by(AIDecision.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    decisions = (
        select(
            func.jsonb_agg(
                func.jsonb_build_object(
                    "agent",
                    AIDecision.agent,
                    "language",
                    AIDecision.output["language"],
                    "confidence",
                    AIDecision.confidence,
                )
            )
        )
        .where(AIDecision.ticket_id == ticket.id, AIDecision.run_id == latest)
        .scalar_subquery()
    )
    row = (await session.execute(select(email, urls, decisions))).one()
    language: str | None = None
    confidence: dict[str, float] = {}
    for decision in row[2] or []:
        values: dict[str, float] = decision["confidence"] or {}
        if decision["agent"] == "analysis":
            language = decision["language"]
            if "language" in values:
                confidence["language"] = float(values["language"])
        else:
            confidence.update(
                {k: float(v) for k, v in values.items() if k in ("category", "priority", "type")}
            )
    return TicketContext(row[0], list(row[1] or []), language, confidence)


async def rules_stamp(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[int, datetime | None]:
    """Changes whenever a rule of the organization is created, changed, moved or deleted."""
    row = (
        await session.execute(
            select(func.count(), func.max(RoutingRule.updated_at)).where(
                RoutingRule.organization_id == organization_id
            )
        )
    ).one()
    return int(row[0]), row[1]


# Timeline


def record_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    field: str | None,
    new: dict[str, Any],
) -> TicketEvent:
    """A system entry in the ticket's timeline, hidden from reporters."""
    return record(session, ticket.organization_id, ticket.id, kind, field, new)


def record(
    session: AsyncSession,
    organization_id: uuid.UUID,
    ticket_id: uuid.UUID,
    kind: str,
    field: str | None,
    new: dict[str, Any],
) -> TicketEvent:
    event = TicketEvent(
        id=uuid.uuid4(),
        organization_id=organization_id,
        ticket_id=ticket_id,
        actor_user_id=None,
        actor_api_key_id=None,
        actor_kind=ActorKind.SYSTEM,
        kind=kind,
        field=field,
        old=None,
        new=new,
        internal=True,
        created_at=utcnow(),
    )
    session.add(event)
    return event
