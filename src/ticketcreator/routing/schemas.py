"""Request and response bodies of the routing, assignment and SLA API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ticketcreator.routing.models import Availability, Metric, SkillKind, Strategy, Trigger
from ticketcreator.taxonomy.schemas import TagName
from ticketcreator.tickets.models import Priority, Source, TicketType

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

CONDITIONS_DOC = (
    'One group: `{"all": [...]}` or `{"any": [...]}`; items are conditions or groups (one level '
    'deep). A condition is `{"field", "op", "value"}`; fields: category, priority, type, tags, '
    "source, language, reporter_domain, text, page_url, custom_field (with `key`), "
    "business_hours (with `calendar_id`), ai_confidence (with `key`: category, priority, type, "
    "language)."
)
ACTIONS_DOC = (
    'A list of `{"type": ..., ...}`: set_team {team_id}, set_assignee {user_id}, assign '
    "{strategy?, team_id?}, set_priority {priority}, raise_priority, add_tags {tags}, "
    "remove_tags {tags}, set_sla_policy {policy_id}, and types other features register "
    "(notifications, integrations)."
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RuleCreate(_Input):
    name: RuleName
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    enabled: bool = True
    triggers: list[Trigger] = Field(default_factory=lambda: [Trigger.TRIAGED], min_length=1)
    conditions: dict[str, Any] = Field(
        default_factory=lambda: {"all": []}, description=CONDITIONS_DOC
    )
    actions: list[dict[str, Any]] = Field(min_length=1, description=ACTIONS_DOC)
    stop: bool = Field(default=False, description="When it fires, later rules do not run.")
    position: int | None = Field(default=None, ge=0, description="Default: after the last rule.")


class RuleUpdate(_Input):
    name: RuleName | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    enabled: bool | None = None
    triggers: list[Trigger] | None = Field(default=None, min_length=1)
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    stop: bool | None = None


class RuleRead(_Output):
    id: uuid.UUID
    name: str
    description: str
    position: int
    enabled: bool
    triggers: list[Trigger]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    stop: bool
    version: int
    created_at: datetime
    updated_at: datetime


class RuleVersionRead(_Output):
    version: int
    snapshot: dict[str, Any]
    changed_by: uuid.UUID | None
    created_at: datetime


class RuleOrder(_Input):
    rule_ids: list[uuid.UUID] = Field(description="Every rule of the organization, in order.")


class Draft(_Input):
    """A ticket that does not exist yet, as the rules would see it."""

    title: str = ""
    description: str = ""
    priority: Priority = Priority.NORMAL
    type: TicketType = TicketType.BUG
    source: Source = Source.API
    category_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    tags: list[TagName] = Field(default_factory=list, max_length=20)
    language: str | None = None
    reporter_email: str | None = None
    page_url: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    ai_confidence: dict[str, float] = Field(default_factory=dict)


class DryRunRequest(_Input):
    ticket: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="A ticket reference; or send `draft`."
    )
    draft: Draft | None = None
    trigger: Trigger = Trigger.TRIAGED
    at: AwareDatetime | None = Field(default=None, description="Evaluate as of (default: now).")


class FiredRule(BaseModel):
    rule_id: uuid.UUID
    rule: str
    version: int
    trigger: str
    matched: list[str]
    actions: list[str]


class DryRunResult(BaseModel):
    evaluated: int
    fired: list[FiredRule]
    changes: dict[str, Any]
    add_tags: list[str]
    remove_tags: list[str]
    sla_policy_id: uuid.UUID | None
    assignment: dict[str, Any] | None = Field(
        description="Who the assignment would pick now (nothing is reserved)."
    )


class TeamStrategy(_Input):
    strategy: Strategy


class TeamStrategyRead(BaseModel):
    team_id: uuid.UUID
    strategy: Strategy


class Skill(BaseModel):
    kind: SkillKind
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = (
        Field(description="A category id, or a language code (ISO 639-1).")
    )
    level: int = Field(ge=1, le=5)


class AgentUpdate(_Input):
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    availability: Availability | None = None
    away_until: AwareDatetime | None = None


class AgentRead(BaseModel):
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    capacity: int
    availability: Availability
    away_until: datetime | None
    open_tickets: int
    skills: list[Skill]


class SkillsUpdate(_Input):
    skills: list[Skill] = Field(max_length=200)


Clock = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]


class CalendarCreate(_Input):
    name: Name
    timezone: str = Field(description="An IANA time zone, e.g. Europe/Berlin.")
    hours: dict[str, list[tuple[Clock, Clock]]] = Field(
        description='Weekday ("0" = Monday … "6" = Sunday) → working intervals, e.g. '
        '{"0": [["09:00", "17:00"]]}.'
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)


class CalendarUpdate(_Input):
    name: Name | None = None
    timezone: str | None = None
    hours: dict[str, list[tuple[Clock, Clock]]] | None = None
    holidays: list[date] | None = Field(default=None, max_length=1000)


class CalendarRead(_Output):
    id: uuid.UUID
    name: str
    timezone: str
    hours: dict[str, list[list[str]]]
    holidays: list[date]
    created_at: datetime
    updated_at: datetime


Minutes = Annotated[int, Field(ge=1, le=525_600)]


class Target(_Input):
    priority: Priority
    category_id: uuid.UUID | None = None
    first_response_minutes: Minutes | None = None
    next_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None


class PolicyCreate(_Input):
    name: Name
    is_default: bool = False
    calendar_id: uuid.UUID | None = Field(default=None, description="None: around the clock.")
    warn_share: float | None = Field(
        default=None, gt=0, lt=1, description="Share of a target after which a warning is raised."
    )
    targets: list[Target] = Field(min_length=1, max_length=200)
    escalation: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description='{"warning": [actions], "breach": [actions]}, actions as in rules.',
    )


class PolicyUpdate(_Input):
    name: Name | None = None
    is_default: bool | None = None
    calendar_id: uuid.UUID | None = None
    warn_share: float | None = Field(default=None, gt=0, lt=1)
    targets: list[Target] | None = Field(default=None, min_length=1, max_length=200)
    escalation: dict[str, list[dict[str, Any]]] | None = None


class PolicyRead(_Output):
    id: uuid.UUID
    name: str
    is_default: bool
    calendar_id: uuid.UUID | None
    warn_share: float
    targets: list[dict[str, Any]]
    escalation: dict[str, list[dict[str, Any]]]
    created_at: datetime
    updated_at: datetime


class MetricRead(BaseModel):
    metric: Metric
    target_minutes: float
    started_at: datetime
    due_at: datetime
    state: str = Field(description="running, at_risk, breached, met or paused")
    remaining_business_seconds: float | None = Field(
        description="Business time left (negative once overdue); null once met."
    )
    warned_at: datetime | None
    breached_at: datetime | None
    done_at: datetime | None


class TicketSlaRead(BaseModel):
    policy_id: uuid.UUID | None
    policy: str | None
    paused: bool
    breached: bool
    metrics: list[MetricRead]
