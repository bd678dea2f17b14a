"""Queries of rules, calendars, SLA policies and clocks, the facts of a ticket and the routing
timeline; each filters by organization. Agents and assignment candidates: ``agent_repository``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import User
from ticketcreator.ai.triage.models import AIDecision
from ticketcreator.captures.models import Capture
from ticketcreator.routing.models import (
    BusinessCalendar,
    RoutingRule,
    RoutingRuleSet,
    RoutingRuleVersion,
    SlaPolicy,
    TicketSla,
    TicketSlaMetric,
    Trigger,
)
from ticketcreator.tickets import history
from ticketcreator.tickets.models import ActorKind, Ticket

# Rules


def no_rule_listening(trigger: Trigger, organization: ColumnElement[Any]) -> ColumnElement[bool]:
    """In SQL, whether no enabled rule of ``organization`` listens to ``trigger``."""
    return ~exists().where(
        RoutingRule.organization_id == organization,
        RoutingRule.enabled,
        literal(trigger.value) == any_(RoutingRule.triggers),
    )


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
    rules_version: int


def _context_statement() -> Select[Any]:
    ticket_id = bindparam("ticket_id", type_=Uuid)
    email = select(User.email).where(User.id == bindparam("reporter_id", type_=Uuid))
    urls = select(func.array_agg(Capture.page_url)).where(
        Capture.ticket_id == ticket_id, Capture.page_url != ""
    )
    latest = (
        select(AIDecision.run_id)
        .where(AIDecision.ticket_id == ticket_id)
        .order_by(AIDecision.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    decisions = select(
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
    ).where(AIDecision.ticket_id == ticket_id, AIDecision.run_id == latest)
    version = select(RoutingRuleSet.version).where(
        RoutingRuleSet.organization_id == bindparam("organization_id", type_=Uuid)
    )
    return select(
        email.scalar_subquery(),
        urls.scalar_subquery(),
        decisions.scalar_subquery(),
        func.coalesce(version.scalar_subquery(), 0),
    )


# Built once: routing reads it for every ticket it evaluates.
_CONTEXT = _context_statement()


async def ticket_context(session: AsyncSession, ticket: Ticket) -> TicketContext:
    """What rules read besides the ticket row, in one round trip: the reporter's address,
    the captured page URLs, the language and confidences of the latest triage run, and the
    version of the organization's rules."""
    connection = await session.connection()  # a prebuilt Core statement: no ORM layer
    row = (
        await connection.execute(
            _CONTEXT,
            {
                "ticket_id": ticket.id,
                "reporter_id": ticket.reporter_id,
                "organization_id": ticket.organization_id,
            },
        )
    ).one()
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
    return TicketContext(row[0], list(row[1] or []), language, confidence, int(row[3]))


async def rules_version(session: AsyncSession, organization_id: uuid.UUID) -> int:
    version = await session.scalar(
        select(RoutingRuleSet.version).where(RoutingRuleSet.organization_id == organization_id)
    )
    return int(version or 0)


async def raise_rules_version(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Mark the organization's rules changed (in the changing transaction: the new version
    is seen with the change, and concurrent changes each raise it)."""
    await session.execute(
        insert(RoutingRuleSet)
        .values(organization_id=organization_id, version=1)
        .on_conflict_do_update(
            index_elements=[RoutingRuleSet.organization_id],
            set_={"version": RoutingRuleSet.version + 1},
        )
    )


# Timeline


def record_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    field: str | None,
    new: dict[str, Any],
) -> None:
    """A system entry in the ticket's timeline, hidden from reporters."""
    record(session, ticket.organization_id, ticket.id, kind, field, new)


def record(
    session: AsyncSession,
    organization_id: uuid.UUID,
    ticket_id: uuid.UUID,
    kind: str,
    field: str | None,
    new: dict[str, Any],
) -> None:
    """A system entry in a ticket's timeline, hidden from reporters."""
    system = (None, None, ActorKind.SYSTEM)
    history.add(session, organization_id, ticket_id, system, kind, field, None, new, True)


@cache
def tickets_in_state(state: str) -> Select[uuid.UUID]:
    """The ids of the tickets with an SLA clock in ``state`` of the organization bound as
    ``visible_organization`` (built once per state, as the ticket list's statements are)."""
    return select(TicketSlaMetric.ticket_id).where(
        TicketSlaMetric.organization_id == bindparam("visible_organization"),
        TicketSlaMetric.state == state,
    )
