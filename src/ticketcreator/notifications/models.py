"""Outgoing webhooks (an organization's endpoints, every delivery made to them, a Teams bot's
credentials and each ticket's cards to a Teams endpoint) and Slack (the connection, each
ticket's message per channel, team channels, linked users)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketcreator.core.crypto import EncryptedString
from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow


class WebhookEndpoint(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "webhook_endpoint"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    format: Mapped[str] = mapped_column(String(20), default="standard")  # an EndpointFormat
    secret: Mapped[str] = mapped_column(EncryptedString())  # ``whsec_<base64>``
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    teams_bot: Mapped[TeamsBot | None] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )


class EndpointFormat(StrEnum):
    STANDARD = "standard"  # Standard Webhooks: signed JSON {type, timestamp, data}
    TEAMS = "teams"  # a Microsoft Teams Workflows/incoming webhook: an Adaptive Card
    TEAMS_BOT = "teams_bot"  # a Teams bot in a conversation: one card per ticket, updated


class TeamsBot(Base):
    """The bot a ``teams_bot`` endpoint posts as, and where: its Microsoft Entra app (the id,
    the client secret sealed at rest and never returned, the tenant that issues its tokens)
    and the Teams conversation (a channel or chat) its cards go to. The endpoint's URL is
    the Bot Framework service URL of that conversation."""

    __tablename__ = "teams_bot"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[str] = mapped_column(String(64))
    app_secret: Mapped[str] = mapped_column(EncryptedString())
    tenant_id: Mapped[str] = mapped_column(String(100))
    conversation_id: Mapped[str] = mapped_column(String(500))


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up (retry window over, or the endpoint was disabled)


class WebhookDelivery(UUIDPrimaryKey, Base):
    """One event for one endpoint; its id is the ``webhook-id`` (the same on every retry)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20))  # a DeliveryStatus
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TeamsCard(Base):
    """A ticket's cards to one Teams endpoint.

    A change with no card sent within the coalescing window is sent at once; the changes
    after it, until the window ends, are ``held`` and sent as one card at ``due_at``, showing
    the ticket as it is then and listing them. A Workflows webhook cannot edit a posted
    card, so each is a new card. A bot posts one card (``activity_id``) and updates it: the
    card lists the latest changes it has shown (``shown``, of ``shown_total``), and of the
    cards made for it (``cards_made``, each numbered) Teams shows ``cards_shown``, so an
    older card retried late never replaces a newer one."""

    __tablename__ = "teams_card"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    held: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    activity_id: Mapped[str | None] = mapped_column(String(200))
    shown: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    shown_total: Mapped[int] = mapped_column(Integer, default=0)
    cards_made: Mapped[int] = mapped_column(Integer, default=0)
    cards_shown: Mapped[int] = mapped_column(Integer, default=0)


class SlackConnection(Timestamps, Base):
    """An organization's Slack app: a bot token (messages posted, then edited) or an incoming
    webhook URL (posted once), and the signing secret its interactive buttons are checked
    with. Secrets are sealed at rest and never returned."""

    __tablename__ = "slack_connection"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    slack_team_id: Mapped[str] = mapped_column(String(32), index=True)
    bot_token: Mapped[str | None] = mapped_column(EncryptedString())
    webhook_url: Mapped[str | None] = mapped_column(EncryptedString())  # the URL is a secret
    signing_secret: Mapped[str | None] = mapped_column(EncryptedString())
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class SlackMessage(UUIDPrimaryKey, Base):
    """A ticket's message in one channel: posted once, then edited (``ts``) as it changes.

    ``due_at`` is set while an edit is scheduled: changes before then are shown by that edit,
    so a burst of changes becomes one post and a few edits."""

    __tablename__ = "slack_message"
    __table_args__ = (UniqueConstraint("ticket_id", "channel"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(40))  # a channel id, or "webhook"
    ts: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SlackTeamChannel(Base):
    """The Slack channel where a team's tickets are announced."""

    __tablename__ = "slack_team_channel"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(40))


class SlackUserLink(Base):
    """Which Slack user a member is: their clicks act as them, with their permissions. Made
    only from a link Slack vouched for (:mod:`ticketcreator.notifications.slack_links`)."""

    __tablename__ = "slack_user_link"
    __table_args__ = (UniqueConstraint("organization_id", "slack_team_id", "slack_user_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
