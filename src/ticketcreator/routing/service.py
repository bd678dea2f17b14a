"""Configuration of routing (rules, team strategies, agents, calendars, SLA policies), the
dry-run, and the SLA state of a ticket. Services flush and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.routing import actions, assignment, conditions, engine, sla
from ticketcreator.routing import repository as repo
from ticketcreator.routing.calendar import ALWAYS, Hours
from ticketcreator.routing.conditions import Facts, Group
from ticketcreator.routing.errors import (
    InvalidAgent,
    InvalidCalendar,
    InvalidOrder,
    InvalidRule,
    InvalidSlaPolicy,
)
from ticketcreator.routing.models import (
    AgentProfile,
    Availability,
    BusinessCalendar,
    RoutingRule,
    RoutingRuleVersion,
    SkillKind,
    SlaPolicy,
    TeamRouting,
)
from ticketcreator.routing.schemas import (
    AgentRead,
    AgentUpdate,
    CalendarCreate,
    CalendarUpdate,
    DryRunRequest,
    DryRunResult,
    FiredRule,
    MetricRead,
    PolicyCreate,
    PolicyUpdate,
    RuleCreate,
    RuleOrder,
    RuleUpdate,
    Skill,
    TeamStrategyRead,
    TicketSlaRead,
)
from ticketcreator.taxonomy import repository as taxonomy_repo
from ticketcreator.taxonomy.errors import InUse, NameTaken
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets import service as tickets

# Rules


async def _check_conditions(
    session: AsyncSession, organization_id: uuid.UUID, group: Group
) -> None:
    fields = set(await taxonomy_repo.custom_fields(session, organization_id))
    for condition in conditions.walk(group):
        if condition.field == "category" and condition.value is not None:
            values = condition.value if isinstance(condition.value, list) else [condition.value]
            for value in values:
                if not await taxonomy_repo.exists_in(
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
    rules = await engine.active_rules(session, organization_id)
    calendars = await engine.load_calendars(session, organization_id, rules)
    if data.ticket is not None:
        ticket = await tickets.load(session, principal, data.ticket)
        facts = await engine.facts_of(session, ticket, calendars, now)
    else:
        facts = _draft_facts(data, calendars, now)
    plan = engine.plan(rules, facts, data.trigger.value)
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
        evaluated=sum(1 for rule in rules if data.trigger.value in rule.triggers),
        fired=[FiredRule.model_validate(item) for item in plan.fired],
        changes={k: str(v.value if hasattr(v, "value") else v) for k, v in plan.changes.items()},
        add_tags=plan.add_tags,
        remove_tags=plan.remove_tags,
        sla_policy_id=plan.sla_policy_id,
        assignment=preview,
    )


# Teams and agents


async def _team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> None:
    if not await taxonomy_repo.exists_in(session, Team, principal.organization_id, team_id):
        raise NotFound(f"No team {team_id}.")


async def get_strategy(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID
) -> TeamStrategyRead:
    await _team(session, principal, team_id)
    return TeamStrategyRead(
        team_id=team_id, strategy=await assignment.team_strategy(session, team_id)
    )


async def set_strategy(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, strategy: Any
) -> TeamStrategyRead:
    await _team(session, principal, team_id)
    row = await repo.team_routing(session, team_id)
    if row is None:
        row = TeamRouting(team_id=team_id, organization_id=principal.organization_id)
        session.add(row)
    row.strategy = strategy
    row.updated_at = utcnow()
    await session.flush()
    return TeamStrategyRead(team_id=team_id, strategy=row.strategy)


async def list_agents(session: AsyncSession, principal: Principal) -> list[AgentRead]:
    organization_id = principal.organization_id
    rows = await repo.list_agents(session, organization_id, get_settings().routing.default_capacity)
    skills: dict[uuid.UUID, list[Skill]] = {}
    for skill in await repo.skills(session, organization_id, [row.user_id for row in rows]):
        skills.setdefault(skill.user_id, []).append(
            Skill(kind=skill.kind, value=skill.value, level=skill.level)
        )
    return [
        AgentRead(
            user_id=row.user_id,
            name=row.name,
            email=row.email,
            role=row.role,
            capacity=row.capacity,
            availability=row.availability,
            away_until=row.away_until,
            open_tickets=row.open_tickets,
            skills=skills.get(row.user_id, []),
        )
        for row in rows
    ]


async def get_agent(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> AgentRead:
    agent = next((a for a in await list_agents(session, principal) if a.user_id == user_id), None)
    if agent is None:
        raise NotFound(f"No agent {user_id} in this organization.")
    return agent


async def update_agent(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: AgentUpdate
) -> AgentRead:
    """Admins set anyone's capacity and availability; an agent sets their own availability."""
    admin = principal.can(Permission.CONFIG_MANAGE)
    if not admin and (principal.user_id != user_id or data.capacity is not None):
        raise Forbidden(
            "Agents may set only their own availability; capacity is set by admins.",
            required_permission=Permission.CONFIG_MANAGE.value,
        )
    await get_agent(session, principal, user_id)
    profile = await repo.get_profile(session, principal.organization_id, user_id)
    if profile is None:
        profile = AgentProfile(
            organization_id=principal.organization_id,
            user_id=user_id,
            capacity=get_settings().routing.default_capacity,
            availability=Availability.ONLINE,
        )
        session.add(profile)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("capacity") is not None:
        profile.capacity = changes["capacity"]
    if changes.get("availability") is not None:
        profile.availability = changes["availability"]
        if profile.availability is not Availability.AWAY:
            profile.away_until = None
    if "away_until" in changes:
        if changes["away_until"] is not None and profile.availability is not Availability.AWAY:
            raise InvalidAgent("`away_until` goes with availability `away`.", field="away_until")
        profile.away_until = changes["away_until"]
    profile.updated_at = utcnow()
    await session.flush()
    return await get_agent(session, principal, user_id)


async def set_skills(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, skills: list[Skill]
) -> AgentRead:
    await get_agent(session, principal, user_id)
    entries: dict[tuple[SkillKind, str], int] = {}
    for index, skill in enumerate(skills):
        value = skill.value.lower()
        if skill.kind is SkillKind.CATEGORY:
            try:
                category = uuid.UUID(value)
            except ValueError:
                category = None
            if category is None or not await taxonomy_repo.exists_in(
                session, Category, principal.organization_id, category
            ):
                raise InvalidAgent(
                    f"skills[{index}].value: no category {skill.value}",
                    field=f"skills[{index}].value",
                )
            value = str(category)
        entries[(skill.kind, value)] = skill.level
    await repo.replace_skills(
        session, principal.organization_id, user_id, [(k, v, lv) for (k, v), lv in entries.items()]
    )
    return await get_agent(session, principal, user_id)


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
        if category and not await taxonomy_repo.exists_in(
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


async def ticket_sla(session: AsyncSession, principal: Principal, ref: str) -> TicketSlaRead:
    ticket = await tickets.load(session, principal, ref)
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
