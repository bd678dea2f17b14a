"""Attachments: registering stored files, reading them back, and signed links."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments import repository, signing
from ticketcreator.attachments.models import (
    TEXT_TYPES,
    Attachment,
    AttachmentKind,
    ProcessingStatus,
    storage_prefix,
)
from ticketcreator.attachments.schemas import (
    ORIGINAL,
    AttachmentRead,
    Derivative,
    MediaDetails,
    Processing,
    SignedUrl,
    SignedUrlRequest,
)
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import AppError, Forbidden, NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.storage import Storage

API_PREFIX = "/v1"


def kind_of(content_type: str) -> AttachmentKind:
    major = content_type.split("/", 1)[0]
    if major == "image":
        return AttachmentKind.IMAGE
    if major == "video":
        return AttachmentKind.VIDEO
    if major == "audio":
        return AttachmentKind.AUDIO
    if content_type in TEXT_TYPES:
        return AttachmentKind.LOG
    return AttachmentKind.FILE


def original_key(organization_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"{storage_prefix(organization_id, attachment_id)}/original"


async def register(
    session: AsyncSession,
    *,
    attachment_id: uuid.UUID,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    api_key_id: uuid.UUID | None,
    filename: str,
    content_type: str,
    size_bytes: int,
    storage_key: str,
) -> Attachment:
    """Record a file that is completely stored, and announce it for processing."""
    attachment = Attachment(
        id=attachment_id,
        organization_id=organization_id,
        uploaded_by_user_id=user_id,
        uploaded_by_api_key_id=api_key_id,
        filename=filename,
        content_type=content_type,
        kind=kind_of(content_type),
        size_bytes=size_bytes,
        storage_key=storage_key,
        processing_status=ProcessingStatus.PENDING,
        media={},
        derivatives={},
    )
    repository.add(session, attachment)
    await session.flush()
    payload = event_payload(attachment)
    emit(session, Topic.ATTACHMENT_UPLOADED, payload, organization_id=organization_id)
    return attachment


async def erase(
    session: AsyncSession, organization_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete attachments for good: their rows (with their transcripts and screenshot text)
    now, their stored files by the ``attachment.erased`` subscriber once this transaction has
    committed. Returns the ids that were erased."""
    erased = await repository.delete_many(session, organization_id, attachment_ids)
    if erased:
        emit(
            session,
            Topic.ATTACHMENT_ERASED,
            {"attachment_ids": [str(attachment_id) for attachment_id in erased]},
            organization_id=organization_id,
        )
    return erased


async def erase_files(
    storage: Storage, organization_id: uuid.UUID, attachment_ids: Sequence[uuid.UUID]
) -> int:
    """Remove the stored files of erased attachments, derivatives included; returns how many
    objects went (none the second time: safe to repeat)."""
    removed = 0
    for attachment_id in attachment_ids:
        removed += await storage.delete_prefix(storage_prefix(organization_id, attachment_id))
    return removed


def event_payload(attachment: Attachment) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "attachment_id": str(attachment.id),
        "kind": attachment.kind.value,
        "content_type": attachment.content_type,
        "status": attachment.processing_status.value,
    }
    if attachment.processing_error:
        payload["reason"] = attachment.processing_error
    return payload


def to_read(attachment: Attachment) -> AttachmentRead:
    base = f"{API_PREFIX}/attachments/{attachment.id}"
    return AttachmentRead(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        kind=attachment.kind,
        size_bytes=attachment.size_bytes,
        created_at=attachment.created_at,
        content_url=f"{base}/content",
        processing=Processing(
            status=attachment.processing_status,
            error=attachment.processing_error,
            processed_at=attachment.processed_at,
        ),
        media=MediaDetails.model_validate(attachment.media),
        derivatives=[
            Derivative(
                name=name,
                content_type=info["content_type"],
                size_bytes=info["size_bytes"],
                width=info.get("width"),
                height=info.get("height"),
                url=f"{base}/derivatives/{name}",
            )
            for name, info in sorted(attachment.derivatives.items())
        ],
    )


@dataclass(frozen=True)
class StoredFile:
    """One downloadable variant of an attachment."""

    key: str
    content_type: str
    size: int
    filename: str
    etag: str


def stored_file(attachment: Attachment, variant: str) -> StoredFile:
    """The original file or a named derivative; 404 if the derivative does not exist."""
    if variant == ORIGINAL:
        return StoredFile(
            key=attachment.storage_key,
            content_type=attachment.content_type,
            size=attachment.size_bytes,
            filename=attachment.filename,
            etag=f'"{attachment.id.hex}"',
        )
    info = attachment.derivatives.get(variant)
    if info is None:
        raise NotFound(f"The attachment has no {variant!r} (yet).")
    stem = attachment.filename.rsplit(".", 1)[0] or "attachment"
    return StoredFile(
        key=info["key"],
        content_type=info["content_type"],
        size=info["size_bytes"],
        filename=f"{stem}-{variant}.{info['extension']}",
        etag=f'"{attachment.id.hex}-{variant}-{info["size_bytes"]}"',
    )


def signed_url(attachment: Attachment, request: SignedUrlRequest) -> SignedUrl:
    """A link anyone holding it can use until it expires; checks the variant exists."""
    cfg = get_settings()
    stored_file(attachment, request.variant)
    ttl = request.ttl_s or cfg.storage.signed_url_ttl_s
    if ttl > cfg.storage.signed_url_max_ttl_s:
        raise AppError(
            f"ttl_s may be at most {cfg.storage.signed_url_max_ttl_s} seconds.",
            max_ttl_s=cfg.storage.signed_url_max_ttl_s,
        )
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl)
    expires = int(expires_at.timestamp())
    kid, signature = signing.sign(attachment.id, request.variant, expires, request.download)
    query = urlencode(
        {
            "expires": expires,
            "download": str(request.download).lower(),
            "kid": kid,
            "signature": signature,
        }
    )
    path = f"{API_PREFIX}/signed/attachments/{attachment.id}/{request.variant}"
    base = cfg.app.public_base_url.rstrip("/")
    return SignedUrl(url=f"{base}{path}?{query}", expires_at=expires_at)


async def get_signed(
    session: AsyncSession,
    attachment_id: uuid.UUID,
    variant: str,
    *,
    expires: int,
    download: bool,
    kid: str,
    signature: str,
) -> Attachment:
    """The attachment a signed link points to, if the signature holds and has not expired."""
    if not signing.verify(attachment_id, variant, expires, download, kid, signature):
        raise Forbidden("The link's signature is not valid.")
    if expires < datetime.now(UTC).timestamp():
        raise Forbidden("The link has expired; ask for a new one.")
    attachment = await repository.get_unscoped(session, attachment_id)
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment
