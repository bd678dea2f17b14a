"""SLA clocks of a ticket: attached from a policy, paused while the ticket waits on its
reporter, stopped by responses and resolution, recomputed when priority, category or policy
change.

Each clock counts business time of the policy's calendar: ``due_at`` is ``target_s`` plus
the business time spent paused (``paused_s``) after ``started_at``. First response and
resolution start with the ticket; next response starts when the reporter writes after an
agent answered, and stops at the agent's next public reply. While the ticket is ``waiting``
every clock is paused; ``resolved`` and ``closed`` stop them, and reopening resumes the
resolution clock where it stopped.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.routing import repository as repo
from ticketcreator.routing.calendar import ALWAYS, Hours, hours_of
from ticketcreator.routing.models import (
    BusinessCalendar,
    Metric,
    SlaPolicy,
    TicketSla,
    TicketSlaMetric,
)
from ticketcreator.tickets.models import Status, Ticket

PAUSING = frozenset({Status.WAITING})
FINISHED = frozenset({Status.RESOLVED, Status.CLOSED})


async def hours_for(session: AsyncSession, policy: SlaPolicy) -> Hours:
    if policy.calendar_id is None:
        return ALWAYS
    calendar = await session.get(BusinessCalendar, policy.calendar_id)
    if calendar is None:
        return ALWAYS
    return hours_of(calendar.timezone, calendar.hours, calendar.holidays)


def target_for(policy: SlaPolicy, ticket: Ticket) -> dict[str, Any] | None:
    """The ticket's targets: its priority and category's, else its priority's."""
    matching = [t for t in policy.targets if t["priority"] == ticket.priority.value]
    if ticket.category_id is not None:
        for target in matching:
            if target.get("category_id") == str(ticket.category_id):
                return target
    return next((t for t in matching if not t.get("category_id")), None)


def settle(metric: TicketSlaMetric, paused: bool) -> None:
    """Derive the clock's state and the next moment the checker must look at it."""
    if metric.done_at is not None:
        metric.state = "breached" if metric.breached_at else "met"
        metric.next_check_at = None
    elif metric.breached_at is not None:
        metric.state, metric.next_check_at = "breached", None
    elif paused:
        metric.state, metric.next_check_at = "paused", None
    elif metric.warned_at is not None:
        metric.state, metric.next_check_at = "at_risk", metric.due_at
    else:
        metric.state, metric.next_check_at = "running", metric.warn_at


def schedule(
    metric: TicketSlaMetric, hours: Hours, warn_share: float, paused: bool, now: datetime
) -> None:
    """Recompute the clock's warning and due times from its target."""
    metric.due_at = hours.add(metric.started_at, metric.target_s + metric.paused_s)
    metric.warn_at = hours.add(metric.started_at, metric.target_s * warn_share + metric.paused_s)
    if metric.done_at is None and metric.warned_at is not None and metric.warn_at > now:
        metric.warned_at = None  # a longer target: the warning no longer holds
    settle(metric, paused)


def _new_metric(
    ticket: Ticket, metric: Metric, target_s: int, started_at: datetime
) -> TicketSlaMetric:
    return TicketSlaMetric(
        ticket_id=ticket.id,
        metric=metric,
        organization_id=ticket.organization_id,
        target_s=target_s,
        started_at=started_at,
        paused_s=0,
        due_at=started_at,
        warn_at=started_at,
        state="running",
    )


async def apply_policy(
    session: AsyncSession, ticket: Ticket, policy_id: uuid.UUID | None, now: datetime
) -> dict[str, Any] | None:
    """Attach the policy (``None``: keep the ticket's, else the organization's default) and
    recompute every clock from the ticket's priority and category; returns what was set."""
    sla = await repo.ticket_sla(session, ticket.id)
    if policy_id is None:
        if sla is not None:
            policy_id = sla.policy_id
        else:
            default = await repo.default_policy(session, ticket.organization_id)
            policy_id = default.id if default else None
    policy = (
        await repo.get_policy(session, ticket.organization_id, policy_id) if policy_id else None
    )
    if policy is None:
        return None
    if sla is None:
        sla = TicketSla(
            ticket_id=ticket.id,
            organization_id=ticket.organization_id,
            policy_id=policy.id,
            paused_at=now if ticket.status in PAUSING else None,
        )
        session.add(sla)
    sla.policy_id = policy.id
    hours = await hours_for(session, policy)
    target = target_for(policy, ticket)
    existing = {m.metric: m for m in await repo.ticket_metrics(session, ticket.id)}
    due: dict[str, str] = {}
    for metric in Metric:
        minutes = (target or {}).get(f"{metric.value}_minutes")
        row = existing.get(metric)
        if not minutes:
            if row is not None:
                await session.delete(row)
            continue
        if row is None:
            if metric is Metric.NEXT_RESPONSE:
                continue  # starts when the reporter writes again
            row = _new_metric(ticket, metric, int(minutes) * 60, ticket.created_at)
            if ticket.status in FINISHED:
                row.done_at = ticket.resolved_at or now
            session.add(row)
        row.target_s = int(minutes) * 60
        schedule(row, hours, policy.warn_share, sla.paused_at is not None, now)
        due[metric.value] = row.due_at.isoformat()
    await session.flush()
    return {"policy_id": str(policy.id), "policy": policy.name, "due": due}


async def _context(
    session: AsyncSession, ticket: Ticket
) -> tuple[TicketSla, SlaPolicy, Hours, list[TicketSlaMetric]] | None:
    sla = await repo.ticket_sla(session, ticket.id)
    if sla is None:
        return None
    policy = await repo.get_policy(session, ticket.organization_id, sla.policy_id)
    if policy is None:
        return None
    return (
        sla,
        policy,
        await hours_for(session, policy),
        await repo.ticket_metrics(session, ticket.id),
    )


async def on_status(
    session: AsyncSession, ticket: Ticket, old: Status, new: Status, now: datetime
) -> str | None:
    """Pause, resume, stop or reopen the clocks; returns what happened (for the timeline)."""
    context = await _context(session, ticket)
    if context is None:
        return None
    sla, policy, hours, metrics = context
    happened = None
    if new in FINISHED and old not in FINISHED:
        for metric in metrics:
            if metric.done_at is None:
                metric.done_at = now
        sla.paused_at = None
        happened = "stopped"
    elif old in FINISHED and new not in FINISHED:
        for metric in metrics:
            if metric.metric is Metric.RESOLUTION and metric.done_at is not None:
                metric.paused_s += int(hours.between(metric.done_at, now))
                metric.done_at = None
        sla.paused_at = now if new in PAUSING else None
        happened = "reopened"
    elif new in PAUSING and sla.paused_at is None:
        sla.paused_at = now
        happened = "paused"
    elif new not in PAUSING and sla.paused_at is not None:
        for metric in metrics:
            if metric.done_at is None:
                since = max(sla.paused_at, metric.started_at)
                metric.paused_s += max(0, int(hours.between(since, now)))
        sla.paused_at = None
        happened = "resumed"
    for metric in metrics:
        schedule(metric, hours, policy.warn_share, sla.paused_at is not None, now)
    await session.flush()
    return happened


async def on_reply(
    session: AsyncSession, ticket: Ticket, *, by_agent: bool, now: datetime
) -> str | None:
    """A public comment: an agent's stops the response clocks, the reporter's starts the
    next-response clock (once the first response was given)."""
    context = await _context(session, ticket)
    if context is None:
        return None
    sla, policy, hours, metrics = context
    by_metric = {m.metric: m for m in metrics}
    happened = None
    if by_agent:
        for kind in (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE):
            metric = by_metric.get(kind)
            if metric is not None and metric.done_at is None:
                metric.done_at = now
                happened = f"{kind.value}_given"
    else:
        first = by_metric.get(Metric.FIRST_RESPONSE)
        target = target_for(policy, ticket) or {}
        minutes = target.get("next_response_minutes")
        nxt = by_metric.get(Metric.NEXT_RESPONSE)
        answered = first is None or first.done_at is not None
        if minutes and answered and (nxt is None or nxt.done_at is not None):
            if nxt is None:
                nxt = _new_metric(ticket, Metric.NEXT_RESPONSE, int(minutes) * 60, now)
                session.add(nxt)
                metrics.append(nxt)
            nxt.started_at, nxt.paused_s, nxt.target_s = now, 0, int(minutes) * 60
            nxt.done_at = nxt.warned_at = nxt.breached_at = None
            happened = "next_response_started"
    for metric in metrics:
        schedule(metric, hours, policy.warn_share, sla.paused_at is not None, now)
    await session.flush()
    return happened


def remaining(
    hours: Hours, metric: TicketSlaMetric, paused_at: datetime | None, now: datetime
) -> float | None:
    """Business seconds left until the clock's due time (negative once overdue)."""
    if metric.done_at is not None:
        return None
    # while paused, the clock stands at the moment the pause began
    return hours.between(min(now, paused_at) if paused_at else now, metric.due_at)


def tickets_in_state(state: str) -> Select[uuid.UUID]:
    """The tickets with an SLA clock ``breached`` or ``at_risk``, for the ticket list: of the
    organization bound as ``visible_organization``, the list's own parameter."""
    return repo.tickets_in_state(state)
