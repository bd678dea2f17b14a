"""Transcribing a recording and reading the text of a screenshot, with the configured
engines (local Whisper or a cloud provider; Tesseract), into an ``attachment_text`` row.
When this runs and what it reaches is :mod:`ticketcreator.transcripts.flows`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ticketcreator.attachments.models import Attachment
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
from ticketcreator.storage import ObjectNotFound, Storage
from ticketcreator.transcripts.models import AttachmentText, TextSource, TextStatus

# Organization settings (``organization.settings``).
TRANSCRIPTION_ENABLED = "transcription_enabled"
TRANSCRIPTION_MODEL = "transcription_model"

OPENAI_DEFAULT_MODEL = "whisper-1"
OCR_MODEL = "tesseract-eng-fast"
# Hotwords from the page made tiny.en worse in the benchmark; the base model gains from them.
_NO_CONTEXT_MODELS = frozenset({"tiny.en"})

log = logging.getLogger(__name__)


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


async def transcribe(
    storage: Storage,
    attachment: Attachment,
    org_settings: dict[str, Any],
    context: Callable[[bool], TranscriptionContext],
) -> AttachmentText:
    """The recording's transcript; ``context(for_cloud)`` tells the decoder what the page
    shows (for a cloud provider, with personal data redacted)."""
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
        hints = None if model in _NO_CONTEXT_MODELS else context(provider != "local")
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
                transcriber.transcribe, path, context=hints, on_progress=progress
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


async def read_screen(storage: Storage, attachment: Attachment) -> AttachmentText:
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
