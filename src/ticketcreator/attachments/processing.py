"""Media processing of an attachment: probe, poster and thumbnail, audio for transcription.

Two steps, each an outbox subscriber on the ``media`` queue, so that the ``processing``
state is committed (and announced) before the slow work starts:

1. ``attachment.uploaded`` -> :func:`start` marks the attachment ``processing``.
2. ``attachment.processing`` -> :func:`process` downloads the file to a scratch directory,
   runs the media functions in a thread, stores the derivatives under deterministic keys
   and marks it ``ready`` (or ``failed`` with a reason a person can read).

Both are idempotent: they act only from the state they expect, and a re-run after a crash
overwrites the same derivative keys.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments import repository
from ticketcreator.attachments.models import Attachment, AttachmentKind, ProcessingStatus
from ticketcreator.attachments.service import event_payload
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.media import (
    MediaError,
    extract_audio_wav,
    probe_image,
    probe_media,
    render_poster,
    render_thumbnail,
)
from ticketcreator.storage import ObjectNotFound, Storage

_CHUNK = 1024 * 1024
_MEDIA_KINDS = {AttachmentKind.IMAGE, AttachmentKind.VIDEO, AttachmentKind.AUDIO}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Derived:
    name: str
    path: Path
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


def _emit(session: AsyncSession, topic: Topic, attachment: Attachment) -> None:
    emit(session, topic, event_payload(attachment), organization_id=attachment.organization_id)


async def start(session: AsyncSession, attachment_id: uuid.UUID) -> None:
    attachment = await repository.get_unscoped(session, attachment_id, for_update=True)
    if attachment is None or attachment.processing_status != ProcessingStatus.PENDING:
        return
    attachment.processing_status = ProcessingStatus.PROCESSING
    _emit(session, Topic.ATTACHMENT_PROCESSING, attachment)


async def process(session: AsyncSession, storage: Storage, attachment_id: uuid.UUID) -> None:
    attachment = await repository.get_unscoped(session, attachment_id, for_update=True)
    if attachment is None or attachment.processing_status != ProcessingStatus.PROCESSING:
        return
    if attachment.kind not in _MEDIA_KINDS:
        _finish(session, attachment, media={}, derivatives={})
        return
    with tempfile.TemporaryDirectory(prefix="tc-media-") as scratch:
        workdir = Path(scratch)
        source = workdir / "original"
        try:
            await _download(storage, attachment.storage_key, source)
        except ObjectNotFound:
            _fail(session, attachment, "The uploaded file is missing from storage.")
            return
        try:
            media, derived = await asyncio.to_thread(_analyse, attachment.kind, source, workdir)
        except MediaError as exc:
            _fail(session, attachment, str(exc))
            return
        derivatives: dict[str, dict[str, Any]] = {}
        for item in derived:
            key = f"{attachment.storage_prefix}/{item.name}.{item.extension}"
            stored = await storage.put(key, _read(item.path), content_type=item.content_type)
            derivatives[item.name] = {
                "key": key,
                "content_type": item.content_type,
                "extension": item.extension,
                "size_bytes": stored.size,
                "width": item.width,
                "height": item.height,
            }
    _finish(session, attachment, media=media, derivatives=derivatives)


async def requeue_stuck(session: AsyncSession) -> int:
    """Queue again the attachments stuck pending or processing (``outbox.attachments_stuck_
    after_s`` without change), each at most ``outbox.attachments_max_requeues`` times: the
    step they wait for is announced again (both steps act only from their own state)."""
    cfg = get_settings().outbox
    found = await repository.stuck(
        session,
        unchanged_since=utcnow() - timedelta(seconds=cfg.attachments_stuck_after_s),
        max_requeues=cfg.attachments_max_requeues,
    )
    for attachment in found:
        attachment.processing_requeues += 1
        attachment.updated_at = utcnow()
        pending = attachment.processing_status == ProcessingStatus.PENDING
        _emit(
            session,
            Topic.ATTACHMENT_UPLOADED if pending else Topic.ATTACHMENT_PROCESSING,
            attachment,
        )
        log.warning(
            "attachment stuck in processing queued again",
            extra={
                "attachment_id": str(attachment.id),
                "status": attachment.processing_status.value,
                "requeues": attachment.processing_requeues,
            },
        )
    return len(found)


def _finish(
    session: AsyncSession,
    attachment: Attachment,
    *,
    media: dict[str, Any],
    derivatives: dict[str, dict[str, Any]],
) -> None:
    attachment.media = media
    attachment.derivatives = derivatives
    attachment.processing_status = ProcessingStatus.READY
    attachment.processing_error = None
    attachment.processed_at = utcnow()
    _emit(session, Topic.ATTACHMENT_READY, attachment)


def _fail(session: AsyncSession, attachment: Attachment, reason: str) -> None:
    log.info("attachment processing failed", extra={"attachment_id": str(attachment.id)})
    attachment.processing_status = ProcessingStatus.FAILED
    attachment.processing_error = reason[:2000]
    attachment.processed_at = utcnow()
    _emit(session, Topic.ATTACHMENT_FAILED, attachment)


def _analyse(
    kind: AttachmentKind, source: Path, workdir: Path
) -> tuple[dict[str, Any], list[Derived]]:
    """Probe and render (blocking; runs in a thread)."""
    if kind == AttachmentKind.IMAGE:
        image = probe_image(source)
        thumb = workdir / "thumbnail.jpg"
        info = render_thumbnail(source, thumb)
        details = {"image_format": image.format, "width": image.width, "height": image.height}
        return details, [Derived("thumbnail", thumb, "image/jpeg", "jpg", info.width, info.height)]
    probe = probe_media(source)
    media: dict[str, Any] = {
        "container": probe.container,
        "duration_s": probe.duration_s,
        "duration_from_header": probe.duration_from_header,
    }
    derived: list[Derived] = []
    if probe.video is not None:
        media.update(
            width=probe.video.width,
            height=probe.video.height,
            video_codec=probe.video.codec,
            fps=probe.video.fps,
        )
        poster = workdir / "poster.jpg"
        poster_info = render_poster(source, poster)
        thumb = workdir / "thumbnail.jpg"
        thumb_info = render_thumbnail(poster, thumb)
        derived += [
            Derived("poster", poster, "image/jpeg", "jpg", poster_info.width, poster_info.height),
            Derived("thumbnail", thumb, "image/jpeg", "jpg", thumb_info.width, thumb_info.height),
        ]
    if probe.audio is not None:
        media.update(
            audio_codec=probe.audio.codec,
            sample_rate=probe.audio.sample_rate,
            channels=probe.audio.channels,
        )
        audio = workdir / "audio.wav"
        extract_audio_wav(source, audio)
        derived.append(Derived("audio", audio, "audio/wav", "wav"))
    return media, derived


async def _download(storage: Storage, key: str, dest: Path) -> None:
    with dest.open("wb") as out:
        async for chunk in await storage.open_range(key):
            await asyncio.to_thread(out.write, chunk)


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            yield chunk
