"""The ``attachment`` table: a stored file, what processing found in it, and its derivatives."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey

# Logs and other text: stored as ``log`` attachments, read as text.
TEXT_TYPES = frozenset(
    {
        "text/plain",
        "text/csv",
        "text/markdown",
        "text/x-log",
        "application/json",
        "application/x-ndjson",
        "application/har+json",
    }
)


class AttachmentKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    LOG = "log"
    FILE = "file"


class ProcessingStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def storage_prefix(organization_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    """Where an attachment's original and its derivatives are stored."""
    return f"orgs/{organization_id}/attachments/{attachment_id}"


class Attachment(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "attachment"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    uploaded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    uploaded_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[AttachmentKind] = mapped_column(
        Enum(AttachmentKind, name="attachment_kind", values_callable=_values)
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(400))
    processing_status: Mapped[ProcessingStatus] = mapped_column(
        Enum(ProcessingStatus, name="attachment_processing_status", values_callable=_values),
        default=ProcessingStatus.PENDING,
    )
    processing_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often the sweeper queued it again while it was stuck pending or processing.
    processing_requeues: Mapped[int] = mapped_column(Integer, default=0)
    # What probing found: duration, container, codecs, resolution (see schemas.MediaDetails).
    media: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # name -> {key, content_type, size_bytes, width?, height?}: poster, thumbnail, audio.
    derivatives: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSONB, default=dict)

    @property
    def storage_prefix(self) -> str:
        return storage_prefix(self.organization_id, self.id)
