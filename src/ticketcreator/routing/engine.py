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
from ticketcreator.routing.conditions import Group
from ticketcreator.routing.errors import InvalidRule
from ticketcreator.routing.facts import Facts
from ticketcreator.routing.models import RoutingRule
from ticketcreator.tickets.models import Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledRule:
    """A rule as the engine runs it: conditions and actions parsed (``actions`` None: an
    action type is no longer registered, ``problem`` says which; the rule is skipped)."""

    id: uuid.UUID
    name: str
    version: int
    triggers: frozenset[str]
    stop: bool
    group: Group
    actions: tuple[actions.Parsed, ...] | None
    problem: str | None = None


def compile_rule(rule: RoutingRule) -> CompiledRule:
    try:
        parsed: tuple[actions.Parsed, ...] | None = tuple(actions.parse(rule.actions))
        problem = None
    except InvalidRule as exc:
        parsed, problem = None, str(exc)
    return CompiledRule(
        id=rule.id,
        name=rule.name,
        version=rule.version,
        triggers=frozenset(rule.triggers),
        stop=rule.stop,
        group=conditions.parse(rule.conditions),
        actions=parsed,
        problem=problem,
    )


@dataclass(frozen=True)
class RuleSet:
    """An organization's enabled rules in order, and the calendars their conditions name."""

    rules: tuple[CompiledRule, ...]
    calendar_ids: frozenset[uuid.UUID]

    def listening(self, trigger: str) -> int:
        return sum(1 for rule in self.rules if trigger in rule.triggers)


def compile_rules(rules: Sequence[RoutingRule]) -> RuleSet:
    compiled = tuple(compile_rule(rule) for rule in rules)
    return RuleSet(
        compiled,
        frozenset(
            uuid.UUID(condition.calendar_id)
            for rule in compiled
            for condition in conditions.walk(rule.group)
            if condition.calendar_id
        ),
    )


_CACHED_ORGANIZATIONS = 1000
# organization -> ((rules version, action registry generation), its compiled rules)
_rulesets: OrderedDict[uuid.UUID, tuple[tuple[int, int], RuleSet]] = OrderedDict()


async def active_rules(
    session: AsyncSession, organization_id: uuid.UUID, version: int | None = None
) -> RuleSet:
    """The organization's enabled rules, parsed once per process and rules version (read
    here unless the caller read it with the ticket's facts): a change to a rule raises the
    version, and the next ticket is evaluated with the changed rules."""
    if version is None:
        version = await repo.rules_version(session, organization_id)
    key = (version, actions.generation())
    cached = _rulesets.get(organization_id)
    if cached is not None and cached[0] == key:
        _rulesets.move_to_end(organization_id)
        return cached[1]
    ruleset = compile_rules(await repo.list_rules(session, organization_id, enabled_only=True))
    _rulesets[organization_id] = (key, ruleset)
    _rulesets.move_to_end(organization_id)
    if len(_rulesets) > _CACHED_ORGANIZATIONS:
        _rulesets.popitem(last=False)
    return ruleset


async def load_calendars(
    session: AsyncSession, organization_id: uuid.UUID, ruleset: RuleSet
) -> dict[str, Hours]:
    if not ruleset.calendar_ids:
        return {}
    return {
        str(calendar.id): hours_of(calendar.timezone, calendar.hours, calendar.holidays)
        for calendar in await repo.calendars_by_id(
            session, organization_id, sorted(ruleset.calendar_ids)
        )
    }


def _facts(
    ticket: Ticket, context: repo.TicketContext, calendars: dict[str, Hours], now: datetime
) -> Facts:
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


async def facts_of(
    session: AsyncSession, ticket: Ticket, calendars: dict[str, Hours], now: datetime
) -> Facts:
    return _facts(ticket, await repo.ticket_context(session, ticket), calendars, now)


async def prepare(session: AsyncSession, ticket: Ticket, now: datetime) -> tuple[RuleSet, Facts]:
    """The organization's rules and the ticket's facts: one query (the rules' version comes
    with the facts), plus the rules when they changed and calendars when rules name any."""
    context = await repo.ticket_context(session, ticket)
    ruleset = await active_rules(session, ticket.organization_id, context.rules_version)
    calendars = await load_calendars(session, ticket.organization_id, ruleset)
    return ruleset, _facts(ticket, context, calendars, now)


def plan(ruleset: RuleSet, facts: Facts, trigger: str) -> Plan:
    """Evaluate the rules listening to ``trigger``, in order."""
    result = Plan(facts=facts)
    for rule in ruleset.rules:
        if trigger not in rule.triggers:
            continue
        held, reasons = conditions.evaluate(rule.group, facts)
        if not held:
            continue
        if rule.actions is None:  # an action type that is no longer registered
            log.warning(
                "routing rule skipped", extra={"rule_id": str(rule.id), "error": rule.problem}
            )
            continue
        reason = {
            "rule_id": str(rule.id),
            "rule": rule.name,
            "version": rule.version,
            "trigger": trigger,
            "matched": reasons,
        }
        done = [item.action.plan(item.params, result, reason) for item in rule.actions]
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
