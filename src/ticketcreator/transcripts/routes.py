"""Attachment text over HTTP: a recording's transcript (JSON, WebVTT, SRT) and the text
read from a screenshot."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.transcripts import service
from ticketcreator.transcripts.models import TextSource
from ticketcreator.transcripts.schemas import OcrRead, TranscriptRead

Reader = Annotated[Principal, Depends(Authorizer(Permission.ATTACHMENTS_READ))]
_ERRORS = documented(Unauthorized, Forbidden, NotFound)
_CAPTIONS = {"vtt": "text/vtt", "srt": "application/x-subrip"}

router = APIRouter(prefix="/attachments", tags=["attachments"], route_class=UnitOfWorkRoute)


def _caption_doc(media_type: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {"content": {media_type: {"schema": {"type": "string"}}}},
        **_ERRORS,
    }


@router.get(
    "/{attachment_id}/transcript",
    response_model=TranscriptRead,
    summary="The transcript of a recording, with timed segments",
    description="404 until transcription has finished. A recording without audio or speech "
    "has an empty transcript with `empty_reason`.",
    responses=_ERRORS,
)
async def get_transcript(
    attachment_id: uuid.UUID, principal: Reader, session: Session
) -> TranscriptRead:
    text = await service.get_text(session, principal, attachment_id, TextSource.TRANSCRIPT)
    return TranscriptRead.model_validate(text)


@router.get(
    "/{attachment_id}/transcript.vtt",
    summary="The transcript as WebVTT captions (for `<track>`)",
    response_class=Response,
    responses=_caption_doc(_CAPTIONS["vtt"]),
)
async def get_transcript_vtt(
    attachment_id: uuid.UUID, principal: Reader, session: Session
) -> Response:
    text = await service.get_text(session, principal, attachment_id, TextSource.TRANSCRIPT)
    return Response(service.captions(text, "vtt"), media_type=_CAPTIONS["vtt"])


@router.get(
    "/{attachment_id}/transcript.srt",
    summary="The transcript as SRT subtitles",
    response_class=Response,
    responses=_caption_doc(_CAPTIONS["srt"]),
)
async def get_transcript_srt(
    attachment_id: uuid.UUID, principal: Reader, session: Session
) -> Response:
    text = await service.get_text(session, principal, attachment_id, TextSource.TRANSCRIPT)
    return Response(service.captions(text, "srt"), media_type=_CAPTIONS["srt"])


@router.get(
    "/{attachment_id}/ocr",
    response_model=OcrRead,
    summary="The text read from a screenshot or image",
    description="404 until the image has been read.",
    responses=_ERRORS,
)
async def get_ocr_text(attachment_id: uuid.UUID, principal: Reader, session: Session) -> OcrRead:
    text = await service.get_text(session, principal, attachment_id, TextSource.OCR)
    return OcrRead.model_validate(text)
