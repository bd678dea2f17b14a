"""Team strategies and agents: who takes tickets of a team, each agent's capacity,
availability and skills. Services flush and never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.routing import agent_repository as agent_repo
from ticketcreator.routing import assignment
from ticketcreator.routing.errors import InvalidAgent
from ticketcreator.routing.models import AgentProfile, Availability, SkillKind, TeamRouting
from ticketcreator.routing.schemas import AgentRead, AgentUpdate, Skill, TeamStrategyRead
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy.models import Category, Team


async def _team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> None:
    if not await taxonomy_lookups.exists_in(session, Team, principal.organization_id, team_id):
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
    row = await agent_repo.team_routing(session, team_id)
    if row is None:
        row = TeamRouting(team_id=team_id, organization_id=principal.organization_id)
        session.add(row)
    row.strategy = strategy
    row.updated_at = utcnow()
    await session.flush()
    return TeamStrategyRead(team_id=team_id, strategy=row.strategy)


async def list_agents(session: AsyncSession, principal: Principal) -> list[AgentRead]:
    organization_id = principal.organization_id
    rows = await agent_repo.list_agents(
        session, organization_id, get_settings().routing.default_capacity
    )
    skills: dict[uuid.UUID, list[Skill]] = {}
    for skill in await agent_repo.skills(session, organization_id, [row.user_id for row in rows]):
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
    profile = await agent_repo.get_profile(session, principal.organization_id, user_id)
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
            if category is None or not await taxonomy_lookups.exists_in(
                session, Category, principal.organization_id, category
            ):
                raise InvalidAgent(
                    f"skills[{index}].value: no category {skill.value}",
                    field=f"skills[{index}].value",
                )
            value = str(category)
        entries[(skill.kind, value)] = skill.level
    await agent_repo.replace_skills(
        session, principal.organization_id, user_id, [(k, v, lv) for (k, v), lv in entries.items()]
    )
    return await get_agent(session, principal, user_id)
