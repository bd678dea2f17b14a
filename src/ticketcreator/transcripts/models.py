"""The ``attachment_text`` table: what was said in a recording or written in a screenshot."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps


class TextSource(StrEnum):
    TRANSCRIPT = "transcript"
    OCR = "ocr"


class TextStatus(StrEnum):
    READY = "ready"
    FAILED = "failed"


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


class AttachmentText(Timestamps, Base):
    __tablename__ = "attachment_text"

    attachment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[TextSource] = mapped_column(
        Enum(TextSource, name="attachment_text_source", values_callable=_values),
        primary_key=True,
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[TextStatus] = mapped_column(
        Enum(TextStatus, name="attachment_text_status", values_callable=_values)
    )
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    # Transcripts: [{start, end, text}] in seconds from the start of the recording.
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    duration_s: Mapped[float | None] = mapped_column(Float)
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(100))
    # Why a transcript is empty: no_audio_track, silence, no_speech (not a failure).
    empty_reason: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    # OCR: Tesseract's mean word confidence, 0 to 100.
    confidence: Mapped[float | None] = mapped_column(Float)
    processing_s: Mapped[float] = mapped_column(Float, default=0.0)
