"""Routing tables: rules and their versions, team strategies, agents' capacity and skills,
business-hours calendars, SLA policies and the SLA clocks of each ticket.

Teams and team members are the taxonomy's; agents are organization members (``membership``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow
from ticketcreator.tickets.models import Ticket


def _pg_enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(enum, name=name, values_callable=lambda members: [m.value for m in members])


class Trigger(StrEnum):
    """When a rule is evaluated: after the AI triage, or when a person changes the ticket."""

    TRIAGED = "triaged"
    UPDATED = "updated"


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_OPEN = "least_open"
    SKILLS = "skills"


class Availability(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFF = "off"


class SkillKind(StrEnum):
    CATEGORY = "category"
    LANGUAGE = "language"


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class RoutingRule(UUIDPrimaryKey, Timestamps, Base):
    """One ``conditions → actions`` rule; rules run by ``position`` (lowest first)."""

    __tablename__ = "routing_rule"
    __table_args__ = (Index("ix_routing_rule_org_position", "organization_id", "position"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    triggers: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)


class RoutingRuleVersion(Base):
    """Every saved state of a rule: what fired on a ticket can be read back later."""

    __tablename__ = "routing_rule_version"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("routing_rule.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoutingRuleSet(Base):
    """The version of an organization's rules, raised by every change to them (created,
    edited, moved, deleted): processes keep the parsed rules while it stays the same."""

    __tablename__ = "routing_rule_set"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger)


class TeamRouting(Base):
    """How a team hands out tickets."""

    __tablename__ = "team_routing"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    strategy: Mapped[Strategy] = mapped_column(_pg_enum(Strategy, "assignment_strategy"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AssignmentCursor(Base):
    """When a team last gave an agent a ticket: the round-robin order."""

    __tablename__ = "assignment_cursor"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    last_assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentProfile(Base):
    """An agent's capacity and availability in one organization (defaults when absent)."""

    __tablename__ = "agent_profile"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    capacity: Mapped[int] = mapped_column(Integer)
    availability: Mapped[Availability] = mapped_column(_pg_enum(Availability, "agent_availability"))
    away_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AgentSkill(Base):
    """A skill of an agent: a category (its id) or a language (ISO 639-1), level 1-5."""

    __tablename__ = "agent_skill"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[SkillKind] = mapped_column(
        _pg_enum(SkillKind, "agent_skill_kind"), primary_key=True
    )
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)


class BusinessCalendar(UUIDPrimaryKey, Timestamps, Base):
    """Working hours per weekday in a time zone, and holidays (whole local days off)."""

    __tablename__ = "business_calendar"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    # weekday ("0" = Monday) → [["09:00", "17:00"], ...]
    hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSONB)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), default=list)


class SlaPolicy(UUIDPrimaryKey, Timestamps, Base):
    """Targets per priority (optionally per category), the calendar they count in, when to
    warn, and what to do on a warning or a breach."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        Index(
            "ix_sla_policy_org_default",
            "organization_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="RESTRICT")
    )
    warn_share: Mapped[float] = mapped_column(Float)
    # [{"priority": "high", "category_id": null, "first_response_minutes": 60, ...}]
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # {"warning": [action, ...], "breach": [action, ...]}
    escalation: Mapped[dict[str, list[dict[str, Any]]]] = mapped_column(JSONB, default=dict)


class TicketSla(Base):
    """The policy a ticket runs under and whether its clocks are paused."""

    __tablename__ = "ticket_sla"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    policy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="CASCADE"), index=True
    )
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketSlaMetric(Base):
    """One SLA clock of a ticket.

    ``due_at`` is ``started_at`` plus ``target_s + paused_s`` seconds of business time.
    ``next_check_at`` is the next moment the checker must look at the clock (its warning or
    its due time), NULL when nothing is left to check (met, breached, paused): the checker
    reads a partial index on it and never scans the open tickets.
    """

    __tablename__ = "ticket_sla_metric"
    __table_args__ = (
        Index(
            "ix_ticket_sla_metric_next_check",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
        ),
        Index("ix_ticket_sla_metric_org_state", "organization_id", "state"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[Metric] = mapped_column(_pg_enum(Metric, "sla_metric"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    target_s: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paused_s: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    warn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # running | at_risk | breached | met | paused: what the ticket list filters on
    state: Mapped[str] = mapped_column(String(16))
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Open tickets per assignee: what capacity and the least-open strategy count, from the index
# alone (repository._OPEN repeats this predicate literally).
OPEN_TICKET = "deleted_at IS NULL AND status IN ('open', 'in_progress', 'waiting')"
Index(
    "ix_ticket_open_assignee",
    Ticket.__table__.c.assignee_id,
    Ticket.__table__.c.organization_id,
    postgresql_where=text(OPEN_TICKET),
)
