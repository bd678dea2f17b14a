"""Worker side: transcribe a capture's recording, read the text of its screenshots.

Runs on the ``media`` queue once an attachment is ``ready`` and belongs to a capture (two
events lead here, ``attachment.ready`` and ``capture.created``, whichever comes last finds
both conditions true). Waiting for the capture pays off: its page title, the labels the
person clicked and the console's error messages bias the speech decoder towards the words
the narration is about. The attachment row stays locked while the text is extracted, and a
stored text is never made again, so a redelivered or concurrent event changes nothing.

New text goes into the search document of every ticket that shows the attachment and is
announced as ``ticket.content_added`` (AI triage reads it).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments.models import Attachment, AttachmentKind, ProcessingStatus
from ticketcreator.captures import service as captures_service
from ticketcreator.captures.models import Capture
from ticketcreator.core.ai_config import get_ai_config
from ticketcreator.core.config import get_settings, secret_value
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.core.modelstore import ModelMissingError
from ticketcreator.media import (
    MODELS,
    CloudTranscriptionError,
    DecodingOptions,
    LocalTranscriber,
    MediaError,
    OpenAITranscriber,
    Transcriber,
    Transcript,
    TranscriptionContext,
    ocr_image,
)
from ticketcreator.media.transcriber import EmptyReason
from ticketcreator.privacy import redact
from ticketcreator.storage import ObjectNotFound, Storage
from ticketcreator.tickets import service as tickets
from ticketcreator.transcripts import repository
from ticketcreator.transcripts.models import AttachmentText, TextSource, TextStatus

# Organization settings (``organization.settings``).
TRANSCRIPTION_ENABLED = "transcription_enabled"
TRANSCRIPTION_MODEL = "transcription_model"

OPENAI_DEFAULT_MODEL = "whisper-1"
OCR_MODEL = "tesseract-eng-fast"
# Hotwords from the page made tiny.en worse in the benchmark; the base model gains from them.
_NO_CONTEXT_MODELS = frozenset({"tiny.en"})
_MAX_LABELS = 30
_MAX_ERRORS = 10
_LABEL_CHARS = 80
_ERROR_CHARS = 200

log = logging.getLogger(__name__)


async def extract(session: AsyncSession, storage: Storage, attachment_id: uuid.UUID) -> None:
    """Extract the attachment's text if it is due; does nothing otherwise."""
    attachment = await repository.claim_attachment(session, attachment_id)
    if attachment is None or attachment.processing_status is not ProcessingStatus.READY:
        return
    source = _source_of(attachment.kind)
    if source is None or await repository.get(session, attachment.id, source) is not None:
        return
    captures = await captures_service.with_attachment(session, attachment.id)
    if not captures:
        return
    if source is TextSource.TRANSCRIPT:
        settings = await repository.organization_settings(session, attachment.organization_id)
        if settings.get(TRANSCRIPTION_ENABLED, True) is False:
            return
        text = await _transcribe(storage, attachment, captures, settings)
    else:
        text = await _read_screen(storage, attachment)
    repository.add(session, text)
    await session.flush()
    emit(
        session,
        Topic.ATTACHMENT_TEXT_EXTRACTED,
        {
            "attachment_id": str(attachment.id),
            "source": source.value,
            "status": text.status.value,
            "empty_reason": text.empty_reason,
        },
        organization_id=attachment.organization_id,
    )
    if text.status is TextStatus.READY and text.text:
        await _reach_tickets(session, attachment, source, captures)


def _source_of(kind: AttachmentKind) -> TextSource | None:
    if kind in (AttachmentKind.VIDEO, AttachmentKind.AUDIO):
        return TextSource.TRANSCRIPT
    if kind is AttachmentKind.IMAGE:
        return TextSource.OCR
    return None


async def _reach_tickets(
    session: AsyncSession, attachment: Attachment, source: TextSource, captures: list[Capture]
) -> None:
    for ticket_id in dict.fromkeys(capture.ticket_id for capture in captures):
        await tickets.refresh_search(session, ticket_id)
        emit(
            session,
            Topic.TICKET_CONTENT_ADDED,
            {
                "ticket_id": str(ticket_id),
                "source": source.value,
                "attachment_id": str(attachment.id),
            },
            organization_id=attachment.organization_id,
        )


# Transcription


def build_transcriber(org_settings: dict[str, Any]) -> tuple[Transcriber, str, str]:
    """The configured transcriber, its provider name and model.

    ``transcription`` in the AI config chooses the provider; an organization may choose the
    local model (``transcription_model``: ``base`` or ``tiny.en``).
    """
    ai_config = get_ai_config()
    cfg = ai_config.transcription
    language = None if cfg.language == "auto" else cfg.language
    if cfg.provider == "openai":
        provider = ai_config.ai_providers["openai"]
        # The AI config names the API root (``.../v1``); the transcriber adds ``/v1/...``.
        base_url = (provider.base_url or "https://api.openai.com").rstrip("/").removesuffix("/v1")
        model = OPENAI_DEFAULT_MODEL if cfg.model in MODELS else cfg.model
        transcriber = OpenAITranscriber(
            api_key=secret_value(provider.resolved_api_key()) or "",
            base_url=base_url,
            model=model,
            language=language,
        )
        return transcriber, "openai", model
    model = str(org_settings.get(TRANSCRIPTION_MODEL) or cfg.model)
    options = DecodingOptions(
        beam_size=cfg.beam_size,
        language=language,
        vad_filter=cfg.vad_filter,
        batched_from_s=cfg.batched_from_s,
    )
    local = LocalTranscriber(model, models_root=get_settings().models.dir, options=options)
    return local, "local", model


def transcription_context(captures: Sequence[Capture], *, for_cloud: bool) -> TranscriptionContext:
    """What the captures show about the page: title, URL, clicked labels, error messages.

    For a cloud provider every text is PII-redacted first (only the audio and this prompt
    leave the service).
    """
    first = captures[0]
    labels = [
        str(step["text"]).strip()[:_LABEL_CHARS]
        for capture in captures
        for step in capture.steps
        if step.get("type") in ("click", "submit") and str(step.get("text") or "").strip()
    ]
    errors = [
        str(entry["message"]).strip().splitlines()[0][:_ERROR_CHARS]
        for capture in captures
        for entry in capture.console
        if entry.get("level") == "error" and str(entry.get("message") or "").strip()
    ]

    def clean(value: str) -> str:
        return redact(value).text if for_cloud else value

    return TranscriptionContext(
        page_title=clean(first.page_title),
        page_url=clean(first.page_url),
        ui_labels=[clean(label) for label in list(dict.fromkeys(labels))[:_MAX_LABELS]],
        error_texts=[clean(error) for error in list(dict.fromkeys(errors))[:_MAX_ERRORS]],
    )


class _ProgressEvents:
    """Announces how far transcription got, every ``step`` of the recording and at the end.

    Called from the transcription thread; each event is committed on its own (through the
    worker's event loop), so listeners see it while the transcription still runs.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, attachment: Attachment, step: float
    ) -> None:
        self._loop = loop
        self._attachment_id = str(attachment.id)
        self._organization_id = attachment.organization_id
        self._step = step
        self._next = step

    def __call__(self, fraction: float) -> None:
        if fraction < self._next and fraction < 1.0:
            return
        self._next = fraction + self._step
        asyncio.run_coroutine_threadsafe(self._emit(fraction), self._loop).result()

    async def _emit(self, fraction: float) -> None:
        async with session_factory()() as session:
            emit(
                session,
                Topic.ATTACHMENT_TRANSCRIPTION_PROGRESS,
                {"attachment_id": self._attachment_id, "progress": round(min(fraction, 1.0), 3)},
                organization_id=self._organization_id,
            )
            await commit(session)


async def _transcribe(
    storage: Storage,
    attachment: Attachment,
    captures: list[Capture],
    org_settings: dict[str, Any],
) -> AttachmentText:
    audio = attachment.derivatives.get("audio")
    try:
        transcriber, provider, model = build_transcriber(org_settings)
    except (ValueError, ModelMissingError) as exc:
        return _failed(attachment, TextSource.TRANSCRIPT, "local", "unavailable", str(exc))
    try:
        if audio is None:
            # Processing found no audio track: nothing to send to a model.
            transcript = Transcript(
                text="",
                language=None,
                duration_s=float(attachment.media.get("duration_s") or 0.0),
                processing_s=0.0,
                segments=(),
                model=model,
                empty_reason=EmptyReason.NO_AUDIO_TRACK,
            )
            return _transcript_row(attachment, transcript, provider)
        context = (
            None
            if model in _NO_CONTEXT_MODELS
            else transcription_context(captures, for_cloud=provider != "local")
        )
        cfg = get_settings().transcripts
        duration = float(attachment.media.get("duration_s") or 0.0)
        progress = (
            _ProgressEvents(asyncio.get_running_loop(), attachment, cfg.progress_step)
            if duration > cfg.progress_min_duration_s
            else None
        )
        with tempfile.TemporaryDirectory(prefix="tc-transcribe-") as scratch:
            path = Path(scratch) / "audio.wav"
            await _download(storage, audio["key"], path)
            transcript = await asyncio.to_thread(
                transcriber.transcribe, path, context=context, on_progress=progress
            )
    except CloudTranscriptionError as exc:
        if exc.retryable:
            raise
        return _failed(attachment, TextSource.TRANSCRIPT, provider, model, str(exc))
    except (MediaError, ObjectNotFound) as exc:
        return _failed(attachment, TextSource.TRANSCRIPT, provider, model, str(exc))
    finally:
        if isinstance(transcriber, OpenAITranscriber):
            transcriber.close()
    return _transcript_row(attachment, transcript, provider)


def _transcript_row(
    attachment: Attachment, transcript: Transcript, provider: str
) -> AttachmentText:
    now = utcnow()
    return AttachmentText(
        attachment_id=attachment.id,
        source=TextSource.TRANSCRIPT,
        organization_id=attachment.organization_id,
        status=TextStatus.READY,
        text=transcript.text,
        language=transcript.language,
        segments=[
            {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
            for s in transcript.segments
        ],
        duration_s=round(transcript.duration_s, 3),
        provider=provider,
        model=transcript.model,
        empty_reason=transcript.empty_reason.value if transcript.empty_reason else None,
        processing_s=round(transcript.processing_s, 3),
        created_at=now,
        updated_at=now,
    )


# OCR


async def _read_screen(storage: Storage, attachment: Attachment) -> AttachmentText:
    try:
        with tempfile.TemporaryDirectory(prefix="tc-ocr-") as scratch:
            path = Path(scratch) / "original"
            await _download(storage, attachment.storage_key, path)
            result = await asyncio.to_thread(ocr_image, path)
    except (MediaError, ObjectNotFound) as exc:
        return _failed(attachment, TextSource.OCR, "local", OCR_MODEL, str(exc))
    now = utcnow()
    return AttachmentText(
        attachment_id=attachment.id,
        source=TextSource.OCR,
        organization_id=attachment.organization_id,
        status=TextStatus.READY,
        text=result.text,
        segments=[],
        provider="local",
        model=OCR_MODEL,
        confidence=round(result.mean_confidence, 2),
        processing_s=round(result.processing_s, 3),
        created_at=now,
        updated_at=now,
    )


def _failed(
    attachment: Attachment, source: TextSource, provider: str, model: str, reason: str
) -> AttachmentText:
    log.info(
        "attachment text extraction failed",
        extra={"attachment_id": str(attachment.id), "source": source.value},
    )
    now = utcnow()
    return AttachmentText(
        attachment_id=attachment.id,
        source=source,
        organization_id=attachment.organization_id,
        status=TextStatus.FAILED,
        text="",
        segments=[],
        provider=provider,
        model=model,
        error=reason[:2000],
        processing_s=0.0,
        created_at=now,
        updated_at=now,
    )


async def _download(storage: Storage, key: str, dest: Path) -> None:
    with dest.open("wb") as out:
        async for chunk in await storage.open_range(key):
            await asyncio.to_thread(out.write, chunk)
