"""Reading attachment text: the transcript with its timings, captions, screenshot text.

The extraction itself runs in the worker (:mod:`ticketcreator.transcripts.extraction`).
Caption files are made on request from the stored segments.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.attachments import flows as attachments
from ticketcreator.core.errors import NotFound
from ticketcreator.transcripts import repository
from ticketcreator.transcripts.models import AttachmentText, TextSource


async def get_text(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID, source: TextSource
) -> AttachmentText:
    """The text of an attachment the caller may see; 404 until it has been extracted."""
    attachment = await attachments.readable(session, principal, attachment_id)
    text = await repository.get(session, attachment.id, source)
    if text is None:
        what = "transcript" if source is TextSource.TRANSCRIPT else "screenshot text"
        raise NotFound(f"The attachment has no {what} (yet).")
    return text


def captions(text: AttachmentText, fmt: str) -> str:
    """The transcript as WebVTT (``vtt``) or SRT (``srt``) captions."""
    from ticketcreator.media import Segment, to_srt, to_webvtt

    segments = [Segment(s["start"], s["end"], s["text"]) for s in text.segments]
    return to_webvtt(segments) if fmt == "vtt" else to_srt(segments)


async def of_attachments(
    session: AsyncSession, attachment_ids: Sequence[uuid.UUID]
) -> list[AttachmentText]:
    """Every text read from these attachments, oldest first."""
    return await repository.of_attachments(session, attachment_ids)
