"""SLA configuration (business calendars and SLA policies) and the SLA state of a ticket.
Services flush and never commit; a changed policy is announced so that the worker recomputes the
targets of the tickets under it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.routing import repository as repo
from ticketcreator.routing import sla
from ticketcreator.routing.calendar import ALWAYS
from ticketcreator.routing.errors import InvalidCalendar, InvalidSlaPolicy
from ticketcreator.routing.models import BusinessCalendar, SlaPolicy
from ticketcreator.routing.rules import validated_actions
from ticketcreator.routing.schemas import (
    CalendarCreate,
    CalendarUpdate,
    MetricRead,
    PolicyCreate,
    PolicyUpdate,
    TicketSlaRead,
)
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy.errors import InUse, NameTaken
from ticketcreator.taxonomy.models import Category
from ticketcreator.tickets.models import Ticket

# Calendars


def _check_calendar(timezone: str, hours: dict[str, list[tuple[str, str]]]) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCalendar("timezone", f"{timezone!r} is not an IANA time zone") from None
    total = 0
    for weekday, spans in hours.items():
        if weekday not in {str(d) for d in range(7)}:
            raise InvalidCalendar(f"hours.{weekday}", 'weekdays are "0" (Monday) to "6"')
        previous = "00:00"
        for index, (start, end) in enumerate(sorted(spans)):
            if start == "24:00" or (end != "24:00" and end <= start):
                raise InvalidCalendar(f"hours.{weekday}[{index}]", "must end after it starts")
            if start < previous:
                raise InvalidCalendar(f"hours.{weekday}[{index}]", "overlaps another interval")
            previous = end
            total += 1
    if total == 0:
        raise InvalidCalendar("hours", "needs at least one working interval")


async def list_calendars(session: AsyncSession, principal: Principal) -> Sequence[BusinessCalendar]:
    return await repo.list_calendars(session, principal.organization_id)


async def get_calendar(
    session: AsyncSession, principal: Principal, calendar_id: uuid.UUID
) -> BusinessCalendar:
    calendar = await repo.get_calendar(session, principal.organization_id, calendar_id)
    if calendar is None:
        raise NotFound(f"No calendar {calendar_id}.")
    return calendar


async def _flush_named(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise NameTaken(f"The name {name!r} is already used.", field="name") from None


async def create_calendar(
    session: AsyncSession, principal: Principal, data: CalendarCreate
) -> BusinessCalendar:
    hours = {k: [list(span) for span in v] for k, v in data.hours.items()}
    _check_calendar(data.timezone, data.hours)
    calendar = BusinessCalendar(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        name=data.name,
        timezone=data.timezone,
        hours=hours,
        holidays=sorted(set(data.holidays)),
    )
    session.add(calendar)
    await _flush_named(session, data.name)
    return calendar


async def update_calendar(
    session: AsyncSession, principal: Principal, calendar_id: uuid.UUID, data: CalendarUpdate
) -> BusinessCalendar:
    calendar = await get_calendar(session, principal, calendar_id)
    timezone = data.timezone or calendar.timezone
    hours = data.hours if data.hours is not None else calendar.hours
    _check_calendar(timezone, {k: [(a, b) for a, b in v] for k, v in hours.items()})
    if data.name is not None:
        calendar.name = data.name
    calendar.timezone = timezone
    calendar.hours = {k: [list(span) for span in v] for k, v in hours.items()}
    if data.holidays is not None:
        calendar.holidays = sorted(set(data.holidays))
    calendar.updated_at = utcnow()
    await _flush_named(session, calendar.name)
    return calendar


async def delete_calendar(
    session: AsyncSession, principal: Principal, calendar_id: uuid.UUID
) -> None:
    calendar = await get_calendar(session, principal, calendar_id)
    if await repo.calendar_in_use(session, calendar.id):
        raise InUse("SLA policies or routing rules use this calendar.")
    await session.delete(calendar)
    await session.flush()


# SLA policies


async def _validate_policy(
    session: AsyncSession,
    principal: Principal,
    calendar_id: uuid.UUID | None,
    targets: list[dict[str, Any]],
    escalation: dict[str, list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    organization_id = principal.organization_id
    if calendar_id is not None and not await repo.get_calendar(
        session, organization_id, calendar_id
    ):
        raise InvalidSlaPolicy("calendar_id", f"no calendar {calendar_id}")
    seen: set[tuple[str, str | None]] = set()
    for index, target in enumerate(targets):
        key = (target["priority"], target.get("category_id"))
        if key in seen:
            raise InvalidSlaPolicy(f"targets[{index}]", "repeats a priority and category")
        seen.add(key)
        category = target.get("category_id")
        if category and not await taxonomy_lookups.exists_in(
            session, Category, organization_id, uuid.UUID(category)
        ):
            raise InvalidSlaPolicy(f"targets[{index}].category_id", f"no category {category}")
        if not any(
            target.get(f"{m}_minutes") for m in ("first_response", "next_response", "resolution")
        ):
            raise InvalidSlaPolicy(f"targets[{index}]", "sets no target")
    normalized = {}
    for stage, raw in escalation.items():
        if stage not in ("warning", "breach"):
            raise InvalidSlaPolicy(f"escalation.{stage}", "stages are warning and breach")
        normalized[stage] = await validated_actions(
            session, organization_id, raw, f"escalation.{stage}"
        )
    return normalized


async def list_policies(session: AsyncSession, principal: Principal) -> Sequence[SlaPolicy]:
    return await repo.list_policies(session, principal.organization_id)


async def get_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID
) -> SlaPolicy:
    policy = await repo.get_policy(session, principal.organization_id, policy_id)
    if policy is None:
        raise NotFound(f"No SLA policy {policy_id}.")
    return policy


async def create_policy(
    session: AsyncSession, principal: Principal, data: PolicyCreate
) -> SlaPolicy:
    targets = [t.model_dump(mode="json") for t in data.targets]
    escalation = await _validate_policy(
        session, principal, data.calendar_id, targets, data.escalation
    )
    if data.is_default:
        await repo.clear_default_policy(session, principal.organization_id)
    policy = SlaPolicy(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        name=data.name,
        is_default=data.is_default,
        calendar_id=data.calendar_id,
        warn_share=data.warn_share or get_settings().routing.warn_share,
        targets=targets,
        escalation=escalation,
    )
    session.add(policy)
    await _flush_named(session, data.name)
    return policy


async def update_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, data: PolicyUpdate
) -> SlaPolicy:
    """Change a policy; the worker then recomputes the targets of the tickets under it
    (``routing.sla_policy_changed``)."""
    policy = await get_policy(session, principal, policy_id)
    changes = data.model_dump(exclude_unset=True)
    calendar_id = changes.get("calendar_id", policy.calendar_id)
    targets = [t.model_dump(mode="json") for t in data.targets] if data.targets else policy.targets
    escalation = await _validate_policy(
        session,
        principal,
        calendar_id,
        targets,
        data.escalation if data.escalation is not None else policy.escalation,
    )
    if data.is_default:
        await repo.clear_default_policy(session, principal.organization_id)
    if data.is_default is not None:
        policy.is_default = data.is_default
    if data.name is not None:
        policy.name = data.name
    if data.warn_share is not None:
        policy.warn_share = data.warn_share
    policy.calendar_id, policy.targets, policy.escalation = calendar_id, targets, escalation
    policy.updated_at = utcnow()
    await _flush_named(session, policy.name)
    emit(
        session,
        Topic.ROUTING_SLA_POLICY_CHANGED,
        {"policy_id": str(policy.id)},
        organization_id=principal.organization_id,
    )
    return policy


async def delete_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID) -> None:
    policy = await get_policy(session, principal, policy_id)
    for rule in await repo.list_rules(session, principal.organization_id):
        if any(a.get("policy_id") == str(policy.id) for a in rule.actions):
            raise InUse(
                f"The routing rule {rule.name!r} applies this policy.", rule_id=str(rule.id)
            )
    await repo.drop_policy_clocks(session, policy.id)
    await session.delete(policy)
    await session.flush()


# SLA state of a ticket


async def ticket_sla(session: AsyncSession, ticket: Ticket) -> TicketSlaRead:
    state = await repo.ticket_sla(session, ticket.id)
    policy = (
        await repo.get_policy(session, ticket.organization_id, state.policy_id) if state else None
    )
    if state is None or policy is None:
        return TicketSlaRead(policy_id=None, policy=None, paused=False, breached=False, metrics=[])
    hours = await sla.hours_for(session, policy) if policy.calendar_id else ALWAYS
    now = utcnow()
    metrics = [
        MetricRead(
            metric=m.metric,
            target_minutes=m.target_s / 60,
            started_at=m.started_at,
            due_at=m.due_at,
            state=m.state,
            remaining_business_seconds=sla.remaining(hours, m, state.paused_at, now),
            warned_at=m.warned_at,
            breached_at=m.breached_at,
            done_at=m.done_at,
        )
        for m in await repo.ticket_metrics(session, ticket.id)
    ]
    return TicketSlaRead(
        policy_id=policy.id,
        policy=policy.name,
        paused=state.paused_at is not None,
        breached=any(m.breached_at for m in metrics),
        metrics=metrics,
    )
