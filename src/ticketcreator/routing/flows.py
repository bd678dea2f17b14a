"""Routing orchestration: run the rules on a ticket and apply their plan, keep its SLA clocks
in step with its changes, raise warnings and breaches, and answer dry-runs.

Each entry point works on the ticket under its row lock, in the caller's transaction: the
rule's changes, the assignment, the SLA clocks and the timeline entries that explain them are
committed together or not at all. Changes are made through the tickets service with the
system as actor, so they are ordinary ticket events and ``ticket.updated`` messages.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import AppError, NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.routing import agent_repository as agent_repo
from ticketcreator.routing import assignment, engine, sla
from ticketcreator.routing import repository as repo
from ticketcreator.routing.actions import Plan
from ticketcreator.routing.models import Metric, Trigger
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.actors import AutomatedPrincipal
from ticketcreator.tickets.models import ActorKind, Status, Ticket
from ticketcreator.tickets.schemas import TicketUpdate

log = logging.getLogger(__name__)


def system_principal(organization_id: uuid.UUID) -> Principal:
    return AutomatedPrincipal(
        organization_id=organization_id,
        role=Role.AGENT,
        permissions=ROLE_PERMISSIONS[Role.AGENT],
        actor_kind=ActorKind.SYSTEM,
    )


async def locked_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, organization_id: uuid.UUID | None = None
) -> Ticket | None:
    """The ticket under its row lock (None when gone); the organization is looked up unless
    the caller knows it (an outbox message carries it). A ticket this transaction already
    locked (the change the rules react to) is not read again."""
    if (ticket := tickets.held(session, ticket_id)) is not None:
        return ticket
    organization_id = organization_id or await session.scalar(
        select(Ticket.organization_id).where(Ticket.id == ticket_id)
    )
    if organization_id is None:
        return None
    try:
        return await tickets.load(
            session, system_principal(organization_id), str(ticket_id), lock=True
        )
    except NotFound:  # deleted meanwhile
        return None


async def route(
    session: AsyncSession, ticket: Ticket, trigger: Trigger, now: datetime | None = None
) -> Plan | None:
    """Evaluate the organization's rules on the (locked) ticket and apply what fires."""
    now = now or utcnow()
    ruleset, facts = await engine.prepare(session, ticket, now)
    if not ruleset.rules:
        return None
    plan = engine.plan(ruleset, facts, trigger.value)
    if plan.fired:
        await apply(session, ticket, plan, now)
    return plan


async def apply(
    session: AsyncSession, ticket: Ticket, plan: Plan, now: datetime, kind: str = "rule_fired"
) -> None:
    """Write the plan: timeline entries first, then assignment, field and tag changes, the
    SLA policy, and the actions of registered types."""
    principal = system_principal(ticket.organization_id)
    for fired in plan.fired:
        repo.record_event(session, ticket, kind, "routing_rule", fired)
        emit(
            session,
            Topic(f"routing.{kind}"),
            {"ticket_id": str(ticket.id), **fired},
            organization_id=ticket.organization_id,
        )
    changes = dict(plan.changes)
    if plan.assign is not None:
        team_id = plan.assign.team_id or changes.get("team_id") or ticket.team_id
        if team_id is None:
            repo.record_event(
                session, ticket, "assignment_skipped", "assignee_id", {"reason": "no team"}
            )
        else:
            choice = await assignment.choose(
                session,
                ticket.organization_id,
                team_id,
                plan.assign.strategy,
                category_id=plan.facts.category_id,
                language=plan.facts.language,
                now=now,
            )
            kind = "auto_assigned" if choice.user_id else "assignment_skipped"
            repo.record_event(session, ticket, kind, "assignee_id", choice.explain())
            if choice.user_id is not None:
                changes["assignee_id"] = choice.user_id
    try:
        if changes:
            update = TicketUpdate.model_validate(changes)
            await tickets.update_ticket(session, principal, ticket, update, None)
        if plan.add_tags or plan.remove_tags:
            await tickets.change_tags(
                session, principal, ticket, add=plan.add_tags, remove=plan.remove_tags
            )
    except AppError as exc:  # e.g. an assignee who left the organization: explain, go on
        repo.record_event(
            session, ticket, "routing_failed", None, {"error": exc.detail, **exc.extensions}
        )
    if plan.sla_policy_id is not None or "priority" in changes:
        await _recompute_sla(session, ticket, plan.sla_policy_id, now)
    for item in plan.external:
        try:
            await item.action.execute(session, ticket, item.params, item.reason)
        except AppError as exc:  # e.g. an installation disabled since the rule was saved
            repo.record_event(
                session,
                ticket,
                "routing_failed",
                None,
                {"action": item.action.key, "error": exc.detail, **exc.extensions},
            )
    await session.flush()


async def _recompute_sla(
    session: AsyncSession, ticket: Ticket, policy_id: uuid.UUID | None, now: datetime
) -> None:
    before = await repo.ticket_metrics(session, ticket.id)
    previous = {m.metric.value: m.due_at.isoformat() for m in before}
    applied = await sla.apply_policy(session, ticket, policy_id, now)
    if applied is not None and applied["due"] != previous:
        repo.record_event(session, ticket, "sla_applied", "sla_policy", applied)


# Reactions to ticket events


async def on_created(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """A new ticket runs under the organization's default SLA policy (rules may change it)."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is not None and await repo.ticket_sla(session, ticket.id) is None:
        await _recompute_sla(session, ticket, None, utcnow())


async def on_triaged(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """After the AI triage applied its fields: rules listening to ``triaged``, then the SLA
    targets of the resulting priority and category."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None:
        return
    now = utcnow()
    await route(session, ticket, Trigger.TRIAGED, now)
    await _recompute_sla(session, ticket, None, now)


async def on_changed_by_person(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """A person changed the ticket: the rules listening to ``updated``."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is not None:
        await route(session, ticket, Trigger.UPDATED)


async def on_updated(session: AsyncSession, message: dict[str, Any]) -> None:
    """Status changes move the SLA clocks; priority and category changes recompute them."""
    payload = message["payload"]
    ticket = await locked_ticket(session, uuid.UUID(payload["ticket_id"]))
    if ticket is None:
        return
    now = utcnow()
    changes = {change["field"]: change for change in payload.get("changes", [])}
    status = changes.get("status")
    if status is not None:
        happened = await sla.on_status(
            session, ticket, Status(status["old"]), Status(status["new"]), now
        )
        if happened:
            repo.record_event(
                session, ticket, f"sla_{happened}", "status", {"status": status["new"]}
            )
    if {"priority", "category_id"} & changes.keys():
        await _recompute_sla(session, ticket, None, now)


async def on_commented(session: AsyncSession, message: dict[str, Any]) -> None:
    """Public replies move the response clocks: an agent's answers, the reporter's asks."""
    payload = message["payload"]
    if payload.get("internal"):
        return
    ticket = await locked_ticket(session, uuid.UUID(payload["ticket_id"]))
    author = payload.get("actor_user_id")
    if ticket is None or author is None:
        return
    author_id = uuid.UUID(author)
    if author_id == ticket.reporter_id:
        by_agent = False
    elif (
        await agent_repo.agent_role(session, ticket.organization_id, author_id)
        in agent_repo.AGENT_ROLES
    ):
        by_agent = True
    else:
        return
    happened = await sla.on_reply(session, ticket, by_agent=by_agent, now=utcnow())
    if happened:
        repo.record_event(
            session, ticket, f"sla_{happened}", "comment", {"comment_id": payload.get("comment_id")}
        )


async def on_policy_changed(session: AsyncSession, policy_id: uuid.UUID, batch: int = 500) -> int:
    """Recompute the targets of every ticket under a changed policy; returns how many."""
    now, after, done = utcnow(), None, 0
    while ticket_ids := await repo.tickets_under(session, policy_id, after, batch):
        for ticket_id in ticket_ids:
            ticket = await locked_ticket(session, ticket_id)
            if ticket is not None:
                await _recompute_sla(session, ticket, None, now)
                done += 1
        after = ticket_ids[-1]
    return done


# The checker


async def check_deadlines(
    session: AsyncSession, now: datetime | None = None, limit: int = 500
) -> int:
    """Raise the warnings and breaches that are due; returns how many clocks were handled.

    Only clocks whose ``next_check_at`` has come are read (a partial index), with their
    tickets and policies in one more query; each becomes a ticket event and an outbox
    message, written together at the end. Only a policy with escalation actions for the
    stage makes the checker lock and load the ticket to apply them.
    """
    now = now or utcnow()
    handled = 0
    due = await repo.due_metrics(session, now, limit)
    tickets_due = await repo.due_tickets(session, sorted({m.ticket_id for m in due}))
    for metric in due:
        found = tickets_due.get(metric.ticket_id)
        if found is None:  # deleted, or its policy is gone
            metric.next_check_at = None
            continue
        if now >= metric.due_at:
            metric.breached_at, stage, kind = now, "breach", "sla_breached"
        else:
            metric.warned_at, stage, kind = now, "warning", "sla_warning"
        sla.settle(metric, paused=found.paused)
        name = Metric(metric.metric).value
        detail = {
            "metric": name,
            "due_at": metric.due_at.isoformat(),
            "policy_id": str(found.policy.id),
        }
        repo.record(session, metric.organization_id, metric.ticket_id, kind, name, detail)
        emit(
            session,
            Topic(f"ticket.{kind}"),
            {"ticket_id": str(metric.ticket_id), "key": f"T-{found.number}", **detail},
            organization_id=metric.organization_id,
        )
        escalation = found.policy.escalation.get(stage) or []
        ticket = (
            await locked_ticket(session, metric.ticket_id, metric.organization_id)
            if escalation
            else None
        )
        if ticket is not None:
            facts = await engine.facts_of(session, ticket, {}, now)
            reason = {"escalation": stage, **detail}
            plan = engine.plan_actions(escalation, facts, reason)
            await apply(session, ticket, plan, now, kind="sla_escalated")
        handled += 1
    await session.flush()
    return handled
