"""Routing rules: their validation, versions and order, and the dry-run that tells which
rules would fire on a ticket or a draft and what they would do. Services flush and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.routing import actions, assignment, conditions, engine
from ticketcreator.routing import repository as repo
from ticketcreator.routing.calendar import Hours
from ticketcreator.routing.conditions import Group
from ticketcreator.routing.errors import InvalidOrder, InvalidRule
from ticketcreator.routing.facts import Facts
from ticketcreator.routing.models import RoutingRule, RoutingRuleVersion
from ticketcreator.routing.schemas import (
    DryRunRequest,
    DryRunResult,
    FiredRule,
    RuleCreate,
    RuleOrder,
    RuleUpdate,
)
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy.models import Category
from ticketcreator.tickets import service as tickets

# Rules


async def _check_conditions(
    session: AsyncSession, organization_id: uuid.UUID, group: Group
) -> None:
    fields = set(await taxonomy_lookups.custom_fields(session, organization_id))
    for condition in conditions.walk(group):
        if condition.field == "category" and condition.value is not None:
            values = condition.value if isinstance(condition.value, list) else [condition.value]
            for value in values:
                if not await taxonomy_lookups.exists_in(
                    session, Category, organization_id, uuid.UUID(value)
                ):
                    raise InvalidRule(f"{condition.path}.value", f"no category {value}")
        if condition.field == "custom_field" and condition.key not in fields:
            raise InvalidRule(f"{condition.path}.key", f"no custom field {condition.key!r}")
        if condition.calendar_id and not await repo.get_calendar(
            session, organization_id, uuid.UUID(condition.calendar_id)
        ):
            raise InvalidRule(
                f"{condition.path}.calendar_id", f"no calendar {condition.calendar_id}"
            )


async def validated_actions(
    session: AsyncSession, organization_id: uuid.UUID, raw: Any, path: str
) -> list[dict[str, Any]]:
    parsed = actions.parse(raw, path)
    await actions.check(session, organization_id, parsed, path)
    return actions.dump(parsed)


async def _validate_rule(
    session: AsyncSession, organization_id: uuid.UUID, raw_conditions: Any, raw_actions: Any
) -> list[dict[str, Any]]:
    group = conditions.parse(raw_conditions)
    await _check_conditions(session, organization_id, group)
    return await validated_actions(session, organization_id, raw_actions, "actions")


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "enabled": rule.enabled,
        "triggers": list(rule.triggers),
        "conditions": rule.conditions,
        "actions": rule.actions,
        "stop": rule.stop,
    }


def _version(principal: Principal, rule: RoutingRule) -> RoutingRuleVersion:
    return RoutingRuleVersion(
        rule_id=rule.id,
        version=rule.version,
        organization_id=rule.organization_id,
        snapshot=_snapshot(rule),
        changed_by=principal.user_id,
        created_at=utcnow(),
    )


async def list_rules(session: AsyncSession, principal: Principal) -> Sequence[RoutingRule]:
    return await repo.list_rules(session, principal.organization_id)


async def get_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, *, lock: bool = False
) -> RoutingRule:
    rule = await repo.get_rule(session, principal.organization_id, rule_id, lock=lock)
    if rule is None:
        raise NotFound(f"No routing rule {rule_id}.")
    return rule


async def create_rule(session: AsyncSession, principal: Principal, data: RuleCreate) -> RoutingRule:
    organization_id = principal.organization_id
    normalized = await _validate_rule(session, organization_id, data.conditions, data.actions)
    await repo.lock_rules(session, organization_id)
    rules = list(await repo.list_rules(session, organization_id))
    position = len(rules) if data.position is None else min(data.position, len(rules))
    rule = RoutingRule(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=data.name,
        description=data.description,
        position=position,
        enabled=data.enabled,
        triggers=[t.value for t in dict.fromkeys(data.triggers)],
        conditions=data.conditions,
        actions=normalized,
        stop=data.stop,
        version=1,
    )
    rules.insert(position, rule)
    session.add(rule)
    for index, item in enumerate(rules):
        item.position = index
    await session.flush()
    session.add(_version(principal, rule))
    await repo.raise_rules_version(session, organization_id)
    await session.flush()
    return rule


async def update_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RuleUpdate
) -> RoutingRule:
    rule = await get_rule(session, principal, rule_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "description", "enabled", "stop", "triggers"):
        if changes.get(key) is None:
            changes.pop(key, None)
    new_conditions = changes.pop("conditions", None) or rule.conditions
    new_actions = changes.pop("actions", None) or rule.actions
    normalized = await _validate_rule(session, rule.organization_id, new_conditions, new_actions)
    if "triggers" in changes:
        changes["triggers"] = [t.value for t in dict.fromkeys(data.triggers or [])]
    for key, value in changes.items():
        setattr(rule, key, value)
    rule.conditions, rule.actions = new_conditions, normalized
    rule.version += 1
    rule.updated_at = utcnow()
    session.add(_version(principal, rule))
    await repo.raise_rules_version(session, rule.organization_id)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, principal, rule_id)
    await repo.lock_rules(session, principal.organization_id)
    await session.delete(rule)
    await session.flush()
    now = utcnow()
    for index, item in enumerate(await repo.list_rules(session, principal.organization_id)):
        item.position = index
        item.updated_at = now
    await repo.raise_rules_version(session, principal.organization_id)
    await session.flush()


async def reorder_rules(
    session: AsyncSession, principal: Principal, data: RuleOrder
) -> Sequence[RoutingRule]:
    await repo.lock_rules(session, principal.organization_id)
    rules = {rule.id: rule for rule in await repo.list_rules(session, principal.organization_id)}
    if len(data.rule_ids) != len(set(data.rule_ids)) or set(data.rule_ids) != set(rules):
        raise InvalidOrder(
            "Send the ids of all the organization's rules, each once, in the new order.",
            expected=len(rules),
        )
    now = utcnow()
    for index, rule_id in enumerate(data.rule_ids):
        rules[rule_id].position = index
        rules[rule_id].updated_at = now
    await repo.raise_rules_version(session, principal.organization_id)
    await session.flush()
    return await repo.list_rules(session, principal.organization_id)


async def rule_versions(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID
) -> Sequence[RoutingRuleVersion]:
    await get_rule(session, principal, rule_id)
    return await repo.rule_versions(session, principal.organization_id, rule_id)


# Dry-run


def _draft_facts(data: DryRunRequest, calendars: dict[str, Hours], now: datetime) -> Facts:
    draft = data.draft
    assert draft is not None
    return Facts(
        category_id=str(draft.category_id) if draft.category_id else None,
        priority=draft.priority.value,
        type=draft.type.value,
        source=draft.source.value,
        tags=set(draft.tags),
        language=draft.language,
        reporter_email=draft.reporter_email,
        text=f"{draft.title}\n{draft.description}",
        page_urls=[draft.page_url] if draft.page_url else [],
        custom_fields=dict(draft.custom_fields),
        confidence=dict(draft.ai_confidence),
        team_id=str(draft.team_id) if draft.team_id else None,
        now=now,
        calendars=calendars,
    )


async def dry_run(session: AsyncSession, principal: Principal, data: DryRunRequest) -> DryRunResult:
    """Which rules would fire and what they would do; nothing is written or reserved."""
    if (data.ticket is None) == (data.draft is None):
        raise InvalidRule("ticket", "send either `ticket` or `draft`")
    now = data.at or utcnow()
    organization_id = principal.organization_id
    if data.ticket is not None:
        ticket = await tickets.load(session, principal, data.ticket)
        ruleset, facts = await engine.prepare(session, ticket, now)
    else:
        ruleset = await engine.active_rules(session, organization_id)
        calendars = await engine.load_calendars(session, organization_id, ruleset)
        facts = _draft_facts(data, calendars, now)
    plan = engine.plan(ruleset, facts, data.trigger.value)
    preview = None
    if plan.assign is not None:
        team = plan.assign.team_id or (uuid.UUID(facts.team_id) if facts.team_id else None)
        if team is not None:
            choice = await assignment.choose(
                session,
                organization_id,
                team,
                plan.assign.strategy,
                category_id=facts.category_id,
                language=facts.language,
                now=now,
                lock=False,
            )
            preview = choice.explain()
        else:
            preview = {"reason": "no team"}
    return DryRunResult(
        evaluated=ruleset.listening(data.trigger.value),
        fired=[FiredRule.model_validate(item) for item in plan.fired],
        changes={k: str(v.value if hasattr(v, "value") else v) for k, v in plan.changes.items()},
        add_tags=plan.add_tags,
        remove_tags=plan.remove_tags,
        sla_policy_id=plan.sla_policy_id,
        assignment=preview,
    )
