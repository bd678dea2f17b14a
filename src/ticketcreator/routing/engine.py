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

_COMPILED_MAX = 10_000
_compiled: OrderedDict[tuple[uuid.UUID, int], Group] = OrderedDict()


def compiled(rule: RoutingRule) -> Group:
    """The rule's parsed conditions, cached per rule version."""
    key = (rule.id, rule.version)
    group = _compiled.get(key)
    if group is None:
        group = conditions.parse(rule.conditions)
        _compiled[key] = group
        if len(_compiled) > _COMPILED_MAX:
            _compiled.popitem(last=False)
    return group


def calendar_ids(rules: Sequence[RoutingRule]) -> set[uuid.UUID]:
    return {
        uuid.UUID(condition.calendar_id)
        for rule in rules
        for condition in conditions.walk(compiled(rule))
        if condition.calendar_id
    }


async def load_calendars(
    session: AsyncSession, organization_id: uuid.UUID, rules: Sequence[RoutingRule]
) -> dict[str, Hours]:
    ids = calendar_ids(rules)
    return {
        str(calendar.id): hours_of(calendar.timezone, calendar.hours, calendar.holidays)
        for calendar in await repo.calendars_by_id(session, organization_id, sorted(ids))
    }


async def facts_of(
    session: AsyncSession, ticket: Ticket, calendars: dict[str, Hours], now: datetime
) -> Facts:
    language, confidence = await repo.latest_ai(session, ticket.id)
    return Facts(
        category_id=str(ticket.category_id) if ticket.category_id else None,
        priority=ticket.priority.value,
        type=ticket.type.value,
        source=ticket.source.value,
        tags=set(ticket.tag_names),
        language=language,
        reporter_email=await repo.reporter_email(session, ticket.reporter_id),
        text=f"{ticket.title}\n{ticket.description}",
        page_urls=await repo.page_urls(session, ticket.id),
        custom_fields=dict(ticket.custom_fields),
        confidence=confidence,
        team_id=str(ticket.team_id) if ticket.team_id else None,
        now=now,
        calendars=calendars,
    )


def plan(rules: Sequence[RoutingRule], facts: Facts, trigger: str) -> Plan:
    """Evaluate the enabled rules listening to ``trigger``, in order."""
    result = Plan(facts=facts)
    for rule in rules:
        if not rule.enabled or trigger not in rule.triggers:
            continue
        held, reasons = conditions.evaluate(compiled(rule), facts)
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
