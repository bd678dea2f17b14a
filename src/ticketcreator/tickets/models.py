"""Ticket tables: tickets, their comments, tags, events, watchers, links and numbering."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow
from ticketcreator.taxonomy.models import Tag


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    """Declared from lowest to highest: the database sorts by this order."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketType(StrEnum):
    BUG = "bug"
    QUESTION = "question"
    INCIDENT = "incident"
    FEATURE_REQUEST = "feature_request"
    TASK = "task"


class Source(StrEnum):
    EXTENSION = "extension"
    API = "api"
    EMAIL = "email"
    INTEGRATION = "integration"


class ActorKind(StrEnum):
    """Who made a ticket change: a person, an API key, the AI, or the system itself."""

    USER = "user"
    API_KEY = "api_key"
    AI = "ai"
    SYSTEM = "system"


def _pg_enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(enum, name=name, values_callable=lambda members: [m.value for m in members])


ALIVE = text("deleted_at IS NULL")

ticket_tag = Table(
    "ticket_tag",
    Base.metadata,
    Column("ticket_id", ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def ticket_key(number: int) -> str:
    """The human reference of the ticket numbered ``number``."""
    return f"T-{number}"


class TicketCounter(Base):
    """The last ticket number of an organization; its row lock serializes number allocation."""

    __tablename__ = "ticket_counter"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class Ticket(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        Index(
            "ix_ticket_org_created", "organization_id", "created_at", "id", postgresql_where=ALIVE
        ),
        Index(
            "ix_ticket_org_updated", "organization_id", "updated_at", "id", postgresql_where=ALIVE
        ),
        Index(
            "ix_ticket_org_status",
            "organization_id",
            "status",
            "created_at",
            postgresql_where=ALIVE,
        ),
        Index("ix_ticket_org_priority", "organization_id", "priority", postgresql_where=ALIVE),
        Index("ix_ticket_org_type", "organization_id", "type", postgresql_where=ALIVE),
        Index("ix_ticket_org_source", "organization_id", "source", postgresql_where=ALIVE),
        Index("ix_ticket_org_category", "organization_id", "category_id", postgresql_where=ALIVE),
        Index("ix_ticket_org_team", "organization_id", "team_id", postgresql_where=ALIVE),
        Index("ix_ticket_org_assignee", "organization_id", "assignee_id", postgresql_where=ALIVE),
        Index(
            "ix_ticket_org_reporter",
            "organization_id",
            "reporter_id",
            "created_at",
            postgresql_where=ALIVE,
        ),
        Index("ix_ticket_org_due", "organization_id", "due_at", postgresql_where=ALIVE),
        Index(
            "ix_ticket_org_deleted",
            "organization_id",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL"),
        ),
        Index("ix_ticket_search", "search_vector", postgresql_using="gin"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(_pg_enum(Status, "ticket_status"))
    priority: Mapped[Priority] = mapped_column(_pg_enum(Priority, "ticket_priority"))
    type: Mapped[TicketType] = mapped_column(_pg_enum(TicketType, "ticket_type"))
    source: Mapped[Source] = mapped_column(_pg_enum(Source, "ticket_source"))
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("category.id", ondelete="RESTRICT")
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("team.id", ondelete="RESTRICT"))
    reporter_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Maintained by the service (title, description and public comments); never loaded.
    search_vector: Mapped[str | None] = deferred(
        mapped_column(TSVECTOR, nullable=True), raiseload=True
    )

    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tag, lazy="raise", order_by=Tag.name)

    @property
    def key(self) -> str:
        return ticket_key(self.number)

    @property
    def tag_names(self) -> list[str]:
        return sorted(tag.name for tag in self.tags)


class Comment(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "ticket_comment"
    __table_args__ = (Index("ix_ticket_comment_ticket_created", "ticket_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    author_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketEvent(UUIDPrimaryKey, Base):
    """One change of a ticket: who, what (field, old, new), when.

    ``actor_kind`` says what kind of actor made the change, and stays when the user or key is
    later deleted (their ids become NULL); every writer sets it.
    """

    __tablename__ = "ticket_event"
    __table_args__ = (
        Index("ix_ticket_event_ticket_created", "ticket_id", "created_at", "id"),
        Index("ix_ticket_event_org_created", "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    actor_kind: Mapped[ActorKind] = mapped_column(_pg_enum(ActorKind, "ticket_actor_kind"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(64))
    old: Mapped[Any] = mapped_column(JSONB, nullable=True)
    new: Mapped[Any] = mapped_column(JSONB, nullable=True)
    # Events about internal comments are hidden from reporters.
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Watcher(Base):
    __tablename__ = "ticket_watcher"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExternalLink(UUIDPrimaryKey, Base):
    """A ticket's counterpart in a vendor system (a Jira issue, a GitHub issue, ...)."""

    __tablename__ = "external_link"
    __table_args__ = (UniqueConstraint("organization_id", "provider", "external_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set for links kept in sync by an integration installation (NULL: a link made by hand).
    installation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_installation.id", ondelete="SET NULL"), index=True
    )
    # The ticket version last written to the vendor, and what the vendor is known to hold
    # (compared with the ticket to send only what changed, and never echo a vendor change).
    last_synced_version: Mapped[int | None] = mapped_column(Integer)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remote_state: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")


class IdempotencyKey(UUIDPrimaryKey, Base):
    """A create request's ``Idempotency-Key`` and the response it produced."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("organization_id", "principal", "key"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
