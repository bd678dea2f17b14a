"""Integration tables: installations, per-ticket sync state, comment links, webhooks, sync log.

A ticket's counterpart on a vendor is the ticket's :class:`~ticketcreator.tickets.models.
ExternalLink` (with the installation that keeps it in sync). :class:`TicketSync` is the
durable work item and idempotency record of one ticket on one installation: it exists before
any vendor call, says whether an issue creation was started (so a retry looks the issue up on
the vendor instead of creating a second one), and whether the ticket has changes to send.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.crypto import EncryptedString
from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow


class Installation(UUIDPrimaryKey, Timestamps, Base):
    """One organization's connection to one vendor account (a repository, a Jira project)."""

    __tablename__ = "integration_installation"
    __table_args__ = (Index("ix_integration_installation_org", "organization_id", "provider"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The provider's typed configuration without its secrets, and the secrets sealed apart.
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secrets: Mapped[str] = mapped_column(EncryptedString())
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # Sync health, kept up to date by the sync engine (read by analytics and the API).
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failures_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rate_limit_waits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_lag_ms: Mapped[int | None] = mapped_column(Integer)


class TicketSync(UUIDPrimaryKey, Base):
    """One ticket on one installation: pending work, and the create-issue idempotency record."""

    __tablename__ = "integration_ticket_sync"
    __table_args__ = (
        UniqueConstraint("installation_id", "ticket_id"),
        Index(
            "ix_integration_ticket_sync_due",
            "next_attempt_at",
            postgresql_where=text("requested_at IS NOT NULL"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    installation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_installation.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    # When the current unsent change was first asked for (NULL: nothing to send).
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The sweeper re-queues the work when this passes (a lost or killed task).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Written and committed before the vendor's create call: a retry that finds it set looks
    # the issue up by the ticket key before creating one.
    create_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CommentLink(UUIDPrimaryKey, Base):
    """A ticket comment and its copy on a vendor issue (either side may have written it)."""

    __tablename__ = "integration_comment_link"
    __table_args__ = (
        UniqueConstraint("installation_id", "comment_id"),
        Index(
            "uq_integration_comment_link_external",
            "installation_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    installation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_installation.id", ondelete="CASCADE")
    )
    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket_comment.id", ondelete="CASCADE")
    )
    # NULL while the vendor call is in flight (the idempotency record of a comment).
    external_id: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(10))  # "local" or "vendor"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(UUIDPrimaryKey, Base):
    """A verified vendor webhook, stored before it is answered and processed by a task."""

    __tablename__ = "integration_webhook_delivery"
    __table_args__ = (UniqueConstraint("installation_id", "delivery_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    installation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_installation.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(200))


class SyncLogEntry(UUIDPrimaryKey, Base):
    """One sync step of an installation: what was done, how it ended, how long it took."""

    __tablename__ = "integration_sync_log"
    __table_args__ = (
        Index("ix_integration_sync_log_installation", "installation_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    installation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_installation.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(10))  # "outbound" or "inbound"
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))  # ok, failed, retrying, rate_limited, skipped
    external_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
