"""API shapes of attachment text: transcripts of recordings, text read from screenshots."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ticketcreator.transcripts.models import TextSource, TextStatus


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AttachmentTextSummary(_Output):
    attachment_id: uuid.UUID
    source: TextSource
    status: TextStatus
    text: str
    empty_reason: str | None = Field(
        description="Why a transcript is empty: `no_audio_track`, `silence` or `no_speech`."
    )
    error: str | None = Field(description="Why extraction failed, for people.")


class SegmentRead(BaseModel):
    start: float = Field(description="Seconds from the start of the recording.")
    end: float
    text: str


class TranscriptRead(AttachmentTextSummary):
    language: str | None = Field(description="ISO 639-1 code, e.g. `en`.")
    duration_s: float | None
    segments: list[SegmentRead]
    provider: str = Field(description="`local` (offline Whisper) or `openai`.")
    model: str
    processing_s: float
    created_at: datetime


class OcrRead(AttachmentTextSummary):
    confidence: float | None = Field(description="Mean word confidence, 0 to 100.")
    model: str
    processing_s: float
    created_at: datetime
