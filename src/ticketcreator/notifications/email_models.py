"""Notification preferences and the e-mails owed to people about tickets."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, Time, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey


class NotificationPreference(UUIDPrimaryKey, Timestamps, Base):
    """A member's preferences, or the organization's defaults (``user_id`` null)."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        Index(
            "uq_notification_preference_member",
            "organization_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_notification_preference_organization",
            "organization_id",
            unique=True,
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE")
    )
    events: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    quiet_start: Mapped[time | None] = mapped_column(Time())
    quiet_end: Mapped[time | None] = mapped_column(Time())
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest: Mapped[str] = mapped_column(String(10), default="off")  # a Digest
    # Part of every unsubscribe link; raising it revokes the links sent so far.
    unsubscribe_version: Mapped[int] = mapped_column(Integer, default=0)


class NotificationStatus(StrEnum):
    PENDING = "pending"  # collecting changes until ``due_at``, or waiting to be sent
    SENT = "sent"
    DROPPED = "dropped"  # the recipient unsubscribed or may no longer read the ticket
    FAILED = "failed"  # the mail server refused it for good


class EmailNotification(UUIDPrimaryKey, Timestamps, Base):
    """The changes to one ticket owed to one person by e-mail: changes made while it is
    pending are added to it (one e-mail, not one per change); its id makes the e-mail's
    ``Message-ID``, so a send repeated after an unclear outcome is recognisably one e-mail."""

    __tablename__ = "email_notification"
    __table_args__ = (
        Index(
            "uq_email_notification_pending",
            "user_id",
            "ticket_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_email_notification_due", "due_at", postgresql_where=text("status = 'pending'")),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    digest: Mapped[str] = mapped_column(String(10), default="off")  # a Digest
    status: Mapped[str] = mapped_column(String(10), default=NotificationStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    handed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
