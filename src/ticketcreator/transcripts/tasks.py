"""Worker side of attachment text (``media`` queue): transcription and OCR.

Both events below can be the last one that makes an attachment's text due (see
:mod:`ticketcreator.transcripts.extraction`). A provider that is passingly unavailable gets
the task retried with backoff. The media libraries are imported when a task runs.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.tasks import RetriableError
from ticketcreator.storage import get_storage


async def _extract(session: AsyncSession, attachment_ids: list[uuid.UUID]) -> None:
    from ticketcreator.media import CloudTranscriptionError
    from ticketcreator.transcripts import flows

    for attachment_id in attachment_ids:
        try:
            await flows.extract(session, get_storage(), attachment_id)
        except CloudTranscriptionError as exc:
            raise RetriableError(str(exc)) from exc


@subscriber(Topic.ATTACHMENT_READY, queue="media")
async def extract_when_ready(session: AsyncSession, message: dict[str, Any]) -> None:
    """A processed attachment: transcribe it or read its text if a capture holds it."""
    await _extract(session, [uuid.UUID(message["payload"]["attachment_id"])])


@subscriber(Topic.CAPTURE_CREATED, queue="media")
async def extract_for_capture(session: AsyncSession, message: dict[str, Any]) -> None:
    """A new capture: transcribe or read each of its attachments that is already processed."""
    await _extract(session, [uuid.UUID(value) for value in message["payload"]["attachment_ids"]])
