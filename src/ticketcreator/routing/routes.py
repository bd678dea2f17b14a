"""REST API of routing: /v1/routing/rules, dry-run, team strategies, agents, calendars, SLA
policies, and the SLA state of a ticket (/v1/tickets/{ref}/sla).

Agents read the configuration; admins change it; an agent may set their own availability.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.routing import agents, policies, rules
from ticketcreator.routing.errors import (
    InvalidAgent,
    InvalidCalendar,
    InvalidOrder,
    InvalidRule,
    InvalidSlaPolicy,
)
from ticketcreator.routing.schemas import (
    AgentRead,
    AgentUpdate,
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    DryRunRequest,
    DryRunResult,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    RuleCreate,
    RuleOrder,
    RuleRead,
    RuleUpdate,
    RuleVersionRead,
    SkillsUpdate,
    TeamStrategy,
    TeamStrategyRead,
    TicketSlaRead,
)
from ticketcreator.taxonomy.errors import InUse, NameTaken
from ticketcreator.tickets.deps import AgentTicket, CanWrite

Agent = CanWrite
Admin = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
_AUTH = (Unauthorized, Forbidden)
_RULES: list[str | Enum] = ["routing rules"]
_AGENTS: list[str | Enum] = ["routing agents"]
_SLA: list[str | Enum] = ["sla"]

router = APIRouter(route_class=UnitOfWorkRoute)


# Rules


@router.get(
    "/routing/rules", tags=_RULES, response_model=list[RuleRead], responses=documented(*_AUTH)
)
async def list_rules(session: Session, principal: Agent) -> list[RuleRead]:
    """The organization's rules in the order they run."""
    return [RuleRead.model_validate(r) for r in await rules.list_rules(session, principal)]


@router.post(
    "/routing/rules",
    tags=_RULES,
    status_code=status.HTTP_201_CREATED,
    response_model=RuleRead,
    responses=documented(*_AUTH, InvalidRule),
)
async def create_rule(data: RuleCreate, session: Session, principal: Admin) -> RuleRead:
    """A new rule (version 1); a rule that cannot run is refused naming the bad field."""
    return RuleRead.model_validate(await rules.create_rule(session, principal, data))


@router.put(
    "/routing/rules/order",
    tags=_RULES,
    response_model=list[RuleRead],
    responses=documented(*_AUTH, InvalidOrder),
)
async def reorder_rules(data: RuleOrder, session: Session, principal: Admin) -> list[RuleRead]:
    """Set the order of all rules at once."""
    ordered = await rules.reorder_rules(session, principal, data)
    return [RuleRead.model_validate(r) for r in ordered]


@router.post(
    "/routing/dry-run",
    tags=_RULES,
    response_model=DryRunResult,
    responses=documented(*_AUTH, NotFound, InvalidRule),
)
async def dry_run(data: DryRunRequest, session: Session, principal: Agent) -> DryRunResult:
    """Which rules would fire for a ticket or a draft, and what they would do."""
    return await rules.dry_run(session, principal, data)


@router.get(
    "/routing/rules/{rule_id}",
    tags=_RULES,
    response_model=RuleRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_rule(rule_id: uuid.UUID, session: Session, principal: Agent) -> RuleRead:
    return RuleRead.model_validate(await rules.get_rule(session, principal, rule_id))


@router.patch(
    "/routing/rules/{rule_id}",
    tags=_RULES,
    response_model=RuleRead,
    responses=documented(*_AUTH, NotFound, InvalidRule),
)
async def update_rule(
    rule_id: uuid.UUID, data: RuleUpdate, session: Session, principal: Admin
) -> RuleRead:
    """Change a rule; every change is a new version."""
    return RuleRead.model_validate(await rules.update_rule(session, principal, rule_id, data))


@router.delete(
    "/routing/rules/{rule_id}",
    tags=_RULES,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound),
)
async def delete_rule(rule_id: uuid.UUID, session: Session, principal: Admin) -> None:
    await rules.delete_rule(session, principal, rule_id)


@router.get(
    "/routing/rules/{rule_id}/versions",
    tags=_RULES,
    response_model=list[RuleVersionRead],
    responses=documented(*_AUTH, NotFound),
)
async def rule_versions(
    rule_id: uuid.UUID, session: Session, principal: Agent
) -> list[RuleVersionRead]:
    """Every saved state of the rule, newest first."""
    rows = await rules.rule_versions(session, principal, rule_id)
    return [RuleVersionRead.model_validate(row) for row in rows]


# Team strategies


@router.get(
    "/routing/teams/{team_id}/strategy",
    tags=_AGENTS,
    response_model=TeamStrategyRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_strategy(team_id: uuid.UUID, session: Session, principal: Agent) -> TeamStrategyRead:
    """How the team hands out tickets (round-robin unless set)."""
    return await agents.get_strategy(session, principal, team_id)


@router.put(
    "/routing/teams/{team_id}/strategy",
    tags=_AGENTS,
    response_model=TeamStrategyRead,
    responses=documented(*_AUTH, NotFound),
)
async def set_strategy(
    team_id: uuid.UUID, data: TeamStrategy, session: Session, principal: Admin
) -> TeamStrategyRead:
    return await agents.set_strategy(session, principal, team_id, data.strategy)


# Agents


@router.get(
    "/routing/agents", tags=_AGENTS, response_model=list[AgentRead], responses=documented(*_AUTH)
)
async def list_agents(session: Session, principal: Agent) -> list[AgentRead]:
    """Owners, admins and agents with capacity, availability, open tickets and skills."""
    return await agents.list_agents(session, principal)


@router.get(
    "/routing/agents/{user_id}",
    tags=_AGENTS,
    response_model=AgentRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_agent(user_id: uuid.UUID, session: Session, principal: Agent) -> AgentRead:
    return await agents.get_agent(session, principal, user_id)


@router.patch(
    "/routing/agents/{user_id}",
    tags=_AGENTS,
    response_model=AgentRead,
    responses=documented(*_AUTH, NotFound, InvalidAgent),
)
async def update_agent(
    user_id: uuid.UUID, data: AgentUpdate, session: Session, principal: Agent
) -> AgentRead:
    """Capacity (admins) and availability (admins, or the agent themself)."""
    return await agents.update_agent(session, principal, user_id, data)


@router.put(
    "/routing/agents/{user_id}/skills",
    tags=_AGENTS,
    response_model=AgentRead,
    responses=documented(*_AUTH, NotFound, InvalidAgent),
)
async def set_skills(
    user_id: uuid.UUID, data: SkillsUpdate, session: Session, principal: Admin
) -> AgentRead:
    """Replace the agent's skills (categories and languages, levels 1-5)."""
    return await agents.set_skills(session, principal, user_id, data.skills)


# Calendars


@router.get(
    "/routing/calendars",
    tags=_SLA,
    response_model=list[CalendarRead],
    responses=documented(*_AUTH),
)
async def list_calendars(session: Session, principal: Agent) -> list[CalendarRead]:
    return [
        CalendarRead.model_validate(c) for c in await policies.list_calendars(session, principal)
    ]


@router.post(
    "/routing/calendars",
    tags=_SLA,
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarRead,
    responses=documented(*_AUTH, NameTaken, InvalidCalendar),
)
async def create_calendar(data: CalendarCreate, session: Session, principal: Admin) -> CalendarRead:
    """Working hours in a time zone, and holidays."""
    return CalendarRead.model_validate(await policies.create_calendar(session, principal, data))


@router.get(
    "/routing/calendars/{calendar_id}",
    tags=_SLA,
    response_model=CalendarRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_calendar(calendar_id: uuid.UUID, session: Session, principal: Agent) -> CalendarRead:
    return CalendarRead.model_validate(await policies.get_calendar(session, principal, calendar_id))


@router.patch(
    "/routing/calendars/{calendar_id}",
    tags=_SLA,
    response_model=CalendarRead,
    responses=documented(*_AUTH, NotFound, NameTaken, InvalidCalendar),
)
async def update_calendar(
    calendar_id: uuid.UUID, data: CalendarUpdate, session: Session, principal: Admin
) -> CalendarRead:
    calendar = await policies.update_calendar(session, principal, calendar_id, data)
    return CalendarRead.model_validate(calendar)


@router.delete(
    "/routing/calendars/{calendar_id}",
    tags=_SLA,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound, InUse),
)
async def delete_calendar(calendar_id: uuid.UUID, session: Session, principal: Admin) -> None:
    """Delete a calendar no policy or rule uses (409 otherwise)."""
    await policies.delete_calendar(session, principal, calendar_id)


# SLA policies


@router.get(
    "/routing/sla-policies",
    tags=_SLA,
    response_model=list[PolicyRead],
    responses=documented(*_AUTH),
)
async def list_policies(session: Session, principal: Agent) -> list[PolicyRead]:
    return [PolicyRead.model_validate(p) for p in await policies.list_policies(session, principal)]


@router.post(
    "/routing/sla-policies",
    tags=_SLA,
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyRead,
    responses=documented(*_AUTH, NameTaken, InvalidSlaPolicy, InvalidRule),
)
async def create_policy(data: PolicyCreate, session: Session, principal: Admin) -> PolicyRead:
    """Targets per priority (and category), calendar, warning share and escalations."""
    return PolicyRead.model_validate(await policies.create_policy(session, principal, data))


@router.get(
    "/routing/sla-policies/{policy_id}",
    tags=_SLA,
    response_model=PolicyRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_policy(policy_id: uuid.UUID, session: Session, principal: Agent) -> PolicyRead:
    return PolicyRead.model_validate(await policies.get_policy(session, principal, policy_id))


@router.patch(
    "/routing/sla-policies/{policy_id}",
    tags=_SLA,
    response_model=PolicyRead,
    responses=documented(*_AUTH, NotFound, NameTaken, InvalidSlaPolicy, InvalidRule),
)
async def update_policy(
    policy_id: uuid.UUID, data: PolicyUpdate, session: Session, principal: Admin
) -> PolicyRead:
    return PolicyRead.model_validate(
        await policies.update_policy(session, principal, policy_id, data)
    )


@router.delete(
    "/routing/sla-policies/{policy_id}",
    tags=_SLA,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound, InUse),
)
async def delete_policy(policy_id: uuid.UUID, session: Session, principal: Admin) -> None:
    """Delete a policy no rule applies (409 otherwise); its tickets lose their SLA clocks."""
    await policies.delete_policy(session, principal, policy_id)


@router.get(
    "/tickets/{ticket_ref}/sla",
    tags=_SLA,
    response_model=TicketSlaRead,
    responses=documented(*_AUTH, NotFound),
)
async def ticket_sla(ticket: AgentTicket, session: Session) -> TicketSlaRead:
    """The ticket's SLA: policy, targets, remaining business time, warnings and breaches."""
    return await policies.ticket_sla(session, ticket)
