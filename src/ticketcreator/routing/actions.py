"""What a rule (or an SLA escalation) does: action types, and the registry that holds them.

An action type has a key, a pydantic model of its parameters, a reference check against the
organization (run when the rule is saved), and a ``plan`` step that records its effect in a
:class:`Plan` and says in words what it does. Built-in types change the ticket's team,
assignee, priority, tags and SLA policy; the flows apply the plan in one transaction.

Other packages add action types with :func:`register` (notifications a ``notify`` type,
integrations a ``sync`` type). Their ``execute`` runs in the same transaction as the rest of
the plan, after the ticket changes; it should emit an outbox event rather than call out.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.routing.errors import InvalidRule
from ticketcreator.routing.facts import Facts
from ticketcreator.routing.models import Strategy
from ticketcreator.taxonomy.schemas import TagName
from ticketcreator.tickets.models import Priority, Ticket


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class AssignRequest:
    team_id: uuid.UUID | None  # None: the ticket's team when the plan is applied
    strategy: Strategy | None  # None: the team's strategy


@dataclass
class External:
    action: ActionType
    params: Params
    reason: dict[str, Any]


@dataclass
class Plan:
    """The effect of the rules that fired, built before anything is written."""

    facts: Facts
    changes: dict[str, Any] = field(default_factory=dict)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    assign: AssignRequest | None = None
    sla_policy_id: uuid.UUID | None = None
    external: list[External] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)


class ActionType(ABC):
    key: ClassVar[str]
    params: ClassVar[type[Params]]

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        """Refuse parameters that name objects the organization does not have."""
        return None

    @abstractmethod
    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        """Record the effect in ``plan``; return what the action does, in words."""

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        """Side effects beyond the ticket's fields (registered action types)."""
        return None


class ExternalAction(ActionType):
    """An action whose effect lies beyond the ticket's fields: planned as an :class:`External`
    entry, carried out by ``execute`` once the ticket changes are written."""

    @abstractmethod
    def describe(self, params: Params) -> str:
        """What the action does, in words."""

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        plan.external.append(External(self, params, reason))
        return self.describe(params)


_registry: dict[str, ActionType] = {}
_generation = [0]  # counts changes of the registry: rules parsed before a change are stale


def register(action: ActionType) -> None:
    """Make an action type available to rules and escalations (idempotent per key)."""
    _registry[action.key] = action
    _generation[0] += 1


def unregister(key: str) -> None:
    _registry.pop(key, None)
    _generation[0] += 1


def generation() -> int:
    """Changes with every (un)registration: the key of rules whose actions were parsed."""
    return _generation[0]


def registered() -> list[str]:
    return sorted(_registry)


@dataclass(frozen=True)
class Parsed:
    action: ActionType
    params: Params


def parse(raw: Any, path: str = "actions") -> list[Parsed]:
    """Validate a list of actions; raises :class:`InvalidRule` naming the bad part."""
    if not isinstance(raw, list) or len(raw) > 20:
        raise InvalidRule(path, "must be a list of at most 20 actions")
    parsed = []
    for index, item in enumerate(raw):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise InvalidRule(item_path, "must be an object with a type")
        key = item.get("type")
        action = _registry.get(key) if isinstance(key, str) else None
        if action is None:
            raise InvalidRule(
                f"{item_path}.type",
                f"{key!r} is not an available action type ({', '.join(registered())})",
            )
        try:
            params = action.params.model_validate({k: v for k, v in item.items() if k != "type"})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InvalidRule(
                f"{item_path}.{where}" if where else item_path, error["msg"]
            ) from None
        parsed.append(Parsed(action, params))
    return parsed


async def check(
    session: AsyncSession, organization_id: uuid.UUID, actions: list[Parsed], path: str
) -> None:
    for index, item in enumerate(actions):
        await item.action.check(session, organization_id, item.params, f"{path}[{index}]")


def dump(actions: list[Parsed]) -> list[dict[str, Any]]:
    return [
        {"type": item.action.key, **item.params.model_dump(mode="json", exclude_none=True)}
        for item in actions
    ]


# Built-in action types


class _TeamParams(Params):
    team_id: uuid.UUID


class _UserParams(Params):
    user_id: uuid.UUID


class _AssignParams(Params):
    strategy: Strategy | None = Field(default=None, description="Omit to use the team's strategy.")
    team_id: uuid.UUID | None = Field(default=None, description="Omit for the ticket's team.")


class _PriorityParams(Params):
    priority: Priority


class _TagsParams(Params):
    tags: list[TagName] = Field(min_length=1, max_length=20)


class _PolicyParams(Params):
    policy_id: uuid.UUID


class _NoParams(Params):
    pass


async def _check_team(
    session: AsyncSession, organization_id: uuid.UUID, team_id: uuid.UUID | None, path: str
) -> None:
    from ticketcreator.taxonomy import lookups as taxonomy_lookups
    from ticketcreator.taxonomy.models import Team

    if team_id is not None and not await taxonomy_lookups.exists_in(
        session, Team, organization_id, team_id
    ):
        raise InvalidRule(f"{path}.team_id", f"no team {team_id} in this organization")


class SetTeam(ActionType):
    key = "set_team"
    params = _TeamParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        assert isinstance(params, _TeamParams)
        await _check_team(session, organization_id, params.team_id, path)

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _TeamParams)
        plan.changes["team_id"] = params.team_id
        plan.facts.team_id = str(params.team_id)
        return f"set team {params.team_id}"


class SetAssignee(ActionType):
    key = "set_assignee"
    params = _UserParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        from ticketcreator.taxonomy import lookups as taxonomy_lookups
        from ticketcreator.tickets.changes import ASSIGNABLE_ROLES

        assert isinstance(params, _UserParams)
        role = await taxonomy_lookups.member_role(session, organization_id, params.user_id)
        if role not in ASSIGNABLE_ROLES:
            raise InvalidRule(f"{path}.user_id", "is not an agent of this organization")

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _UserParams)
        plan.changes["assignee_id"] = params.user_id
        plan.assign = None
        return f"assign to {params.user_id}"


class Assign(ActionType):
    key = "assign"
    params = _AssignParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        assert isinstance(params, _AssignParams)
        await _check_team(session, organization_id, params.team_id, path)

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _AssignParams)
        plan.assign = AssignRequest(params.team_id, params.strategy)
        plan.changes.pop("assignee_id", None)
        if params.team_id is not None:
            plan.changes["team_id"] = params.team_id
            plan.facts.team_id = str(params.team_id)
        how = params.strategy.value if params.strategy else "the team's strategy"
        return f"assign an agent of team {params.team_id or 'of the ticket'} by {how}"


class SetPriority(ActionType):
    key = "set_priority"
    params = _PriorityParams

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _PriorityParams)
        plan.changes["priority"] = params.priority
        plan.facts.priority = params.priority.value
        return f"set priority {params.priority.value}"


class RaisePriority(ActionType):
    """One level up (urgent stays urgent): for SLA escalations."""

    key = "raise_priority"
    params = _NoParams

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        levels = list(Priority)
        current = Priority(plan.facts.priority)
        raised = levels[min(levels.index(current) + 1, len(levels) - 1)]
        plan.changes["priority"] = raised
        plan.facts.priority = raised.value
        return f"raise priority to {raised.value}"


class AddTags(ActionType):
    key = "add_tags"
    params = _TagsParams

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _TagsParams)
        for tag in params.tags:
            if tag not in plan.add_tags:
                plan.add_tags.append(tag)
            if tag in plan.remove_tags:
                plan.remove_tags.remove(tag)
        plan.facts.tags |= set(params.tags)
        return f"add tags {', '.join(params.tags)}"


class RemoveTags(ActionType):
    key = "remove_tags"
    params = _TagsParams

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _TagsParams)
        for tag in params.tags:
            if tag not in plan.remove_tags:
                plan.remove_tags.append(tag)
            if tag in plan.add_tags:
                plan.add_tags.remove(tag)
        plan.facts.tags -= set(params.tags)
        return f"remove tags {', '.join(params.tags)}"


class SetSlaPolicy(ActionType):
    key = "set_sla_policy"
    params = _PolicyParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        from ticketcreator.routing import repository as repo

        assert isinstance(params, _PolicyParams)
        if await repo.get_policy(session, organization_id, params.policy_id) is None:
            raise InvalidRule(f"{path}.policy_id", f"no SLA policy {params.policy_id}")

    def plan(self, params: Params, plan: Plan, reason: dict[str, Any]) -> str:
        assert isinstance(params, _PolicyParams)
        plan.sla_policy_id = params.policy_id
        return f"apply SLA policy {params.policy_id}"


for _action in (
    SetTeam(),
    SetAssignee(),
    Assign(),
    SetPriority(),
    RaisePriority(),
    AddTags(),
    RemoveTags(),
    SetSlaPolicy(),
):
    register(_action)
