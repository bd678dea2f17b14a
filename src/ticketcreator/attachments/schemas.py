"""API shapes of attachments."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ticketcreator.attachments.models import AttachmentKind, ProcessingStatus

ORIGINAL = "original"


class MediaDetails(BaseModel):
    """What probing found; fields that do not apply to the file are null."""

    model_config = ConfigDict(extra="ignore")

    container: str | None = None
    duration_s: float | None = None
    duration_from_header: bool | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    fps: float | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    image_format: str | None = None


class Processing(BaseModel):
    status: ProcessingStatus
    error: str | None = Field(default=None, description="Why processing failed, for people.")
    processed_at: datetime | None = None


class Derivative(BaseModel):
    """A file made from the attachment: ``poster``, ``thumbnail`` or ``audio``."""

    name: str
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    url: str = Field(description="Download path (authorized like the attachment).")


class AttachmentRead(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str = Field(description="Identified from the bytes, not the file name.")
    kind: AttachmentKind
    size_bytes: int
    created_at: datetime
    content_url: str = Field(description="Download path; supports HTTP Range.")
    processing: Processing
    media: MediaDetails
    derivatives: list[Derivative]


class SignedUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: str = Field(
        default=ORIGINAL,
        pattern=r"^[a-z_]{1,40}$",
        description="`original` or the name of a derivative (`poster`, `thumbnail`, `audio`).",
    )
    ttl_s: int | None = Field(
        default=None, ge=1, description="Lifetime in seconds; default `storage.signed_url_ttl_s`."
    )
    download: bool = Field(
        default=False, description="Serve as `attachment` (save) instead of `inline` (view)."
    )


class SignedUrl(BaseModel):
    url: str
    expires_at: datetime
