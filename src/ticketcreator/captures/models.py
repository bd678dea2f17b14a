"""The ``capture`` table (one submission of the browser extension) and its media links."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, UUIDPrimaryKey, utcnow


class CaptureKind(StrEnum):
    SCREENSHOT = "screenshot"
    TAB_RECORDING = "tab_recording"
    SCREEN_RECORDING = "screen_recording"
    FILE = "file"


class Capture(UUIDPrimaryKey, Base):
    __tablename__ = "capture"
    __table_args__ = (Index("ix_capture_ticket_created", "ticket_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    kind: Mapped[CaptureKind] = mapped_column(
        Enum(CaptureKind, name="capture_kind", values_callable=lambda e: [m.value for m in e])
    )
    page_url: Mapped[str] = mapped_column(Text, default="")
    page_title: Mapped[str] = mapped_column(String(1000), default="")
    user_agent: Mapped[str] = mapped_column(String(1000), default="")
    browser: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    os: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    viewport: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Stored after secrets were stripped (see sanitize.py); PII stays for agents.
    console: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    network: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    # The ticket's title was made from the capture (the reporter gave none).
    title_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    # How many secrets were stripped, by place (headers, query, body, text); never the values.
    secrets_removed: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaptureAttachment(Base):
    """The media of a capture, in the order the extension sent them."""

    __tablename__ = "capture_attachment"

    capture_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("capture.id", ondelete="CASCADE"), primary_key=True
    )
    attachment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
