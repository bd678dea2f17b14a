"""Rule evaluation: the facts of a ticket, and the plan of the rules that fire on them.

Rules run in order. A firing rule's actions update the plan and the facts (a rule that sets
the priority is seen by the rules after it); a rule marked ``stop`` ends the run. Nothing is
written here: the dry-run shows the plan, the flows apply it.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.routing import actions, conditions
from ticketcreator.routing import repository as repo
from ticketcreator.routing.actions import Plan
from ticketcreator.routing.calendar import Hours, hours_of
from ticketcreator.routing.conditions import Facts, Group
from ticketcreator.routing.errors import InvalidRule
from ticketcreator.routing.models import RoutingRule
from ticketcreator.tickets.models import Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledRule:
    """A rule as the engine runs it: parsed conditions, actions as stored."""

    id: uuid.UUID
    name: str
    version: int
    triggers: frozenset[str]
    stop: bool
    group: Group
    actions: list[dict[str, Any]]


def compile_rule(rule: RoutingRule) -> CompiledRule:
    return CompiledRule(
        id=rule.id,
        name=rule.name,
        version=rule.version,
        triggers=frozenset(rule.triggers),
        stop=rule.stop,
        group=conditions.parse(rule.conditions),
        actions=list(rule.actions),
    )


_CACHED_ORGANIZATIONS = 1000
_rulesets: OrderedDict[uuid.UUID, tuple[tuple[int, datetime | None], list[CompiledRule]]] = (
    OrderedDict()
)


async def active_rules(session: AsyncSession, organization_id: uuid.UUID) -> list[CompiledRule]:
    """The organization's enabled rules in order, parsed once per process and reused while
    the rules' stamp (count and latest change) stays the same."""
    stamp = await repo.rules_stamp(session, organization_id)
    cached = _rulesets.get(organization_id)
    if cached is not None and cached[0] == stamp:
        _rulesets.move_to_end(organization_id)
        return cached[1]
    rules = [
        compile_rule(rule)
        for rule in await repo.list_rules(session, organization_id, enabled_only=True)
    ]
    _rulesets[organization_id] = (stamp, rules)
    if len(_rulesets) > _CACHED_ORGANIZATIONS:
        _rulesets.popitem(last=False)
    return rules


def calendar_ids(rules: Sequence[CompiledRule]) -> set[uuid.UUID]:
    return {
        uuid.UUID(condition.calendar_id)
        for rule in rules
        for condition in conditions.walk(rule.group)
        if condition.calendar_id
    }


async def load_calendars(
    session: AsyncSession, organization_id: uuid.UUID, rules: Sequence[CompiledRule]
) -> dict[str, Hours]:
    ids = calendar_ids(rules)
    return {
        str(calendar.id): hours_of(calendar.timezone, calendar.hours, calendar.holidays)
        for calendar in await repo.calendars_by_id(session, organization_id, sorted(ids))
    }


async def facts_of(
    session: AsyncSession, ticket: Ticket, calendars: dict[str, Hours], now: datetime
) -> Facts:
    context = await repo.ticket_context(session, ticket)
    return Facts(
        category_id=str(ticket.category_id) if ticket.category_id else None,
        priority=ticket.priority.value,
        type=ticket.type.value,
        source=ticket.source.value,
        tags=set(ticket.tag_names),
        language=context.language,
        reporter_email=context.reporter_email,
        text=f"{ticket.title}\n{ticket.description}",
        page_urls=context.page_urls,
        custom_fields=dict(ticket.custom_fields),
        confidence=context.confidence,
        team_id=str(ticket.team_id) if ticket.team_id else None,
        now=now,
        calendars=calendars,
    )


def plan(rules: Sequence[CompiledRule], facts: Facts, trigger: str) -> Plan:
    """Evaluate the rules listening to ``trigger``, in order."""
    result = Plan(facts=facts)
    for rule in rules:
        if trigger not in rule.triggers:
            continue
        held, reasons = conditions.evaluate(rule.group, facts)
        if not held:
            continue
        try:
            parsed = actions.parse(rule.actions)
        except InvalidRule as exc:  # an action type that is no longer registered
            log.warning("routing rule skipped", extra={"rule_id": str(rule.id), "error": str(exc)})
            continue
        reason = {
            "rule_id": str(rule.id),
            "rule": rule.name,
            "version": rule.version,
            "trigger": trigger,
            "matched": reasons,
        }
        done = [item.action.plan(item.params, result, reason) for item in parsed]
        result.fired.append({**reason, "actions": done})
        if rule.stop:
            break
    return result


def plan_actions(raw: list[dict[str, Any]], facts: Facts, reason: dict[str, Any]) -> Plan:
    """A plan of actions that need no conditions (SLA escalations)."""
    result = Plan(facts=facts)
    parsed = actions.parse(raw)
    done = [item.action.plan(item.params, result, dict(reason)) for item in parsed]
    result.fired.append({**reason, "actions": done})
    return result
