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

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments.models import Attachment, AttachmentKind, ProcessingStatus
from ticketcreator.captures import service as captures_service
from ticketcreator.captures.context import transcription_context
from ticketcreator.captures.models import Capture
from ticketcreator.core.events import Topic, emit
from ticketcreator.storage import Storage
from ticketcreator.tickets import service as tickets
from ticketcreator.transcripts import extraction, repository
from ticketcreator.transcripts.models import TextSource, TextStatus


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
        if settings.get(extraction.TRANSCRIPTION_ENABLED, True) is False:
            return
        text = await extraction.transcribe(
            storage,
            attachment,
            settings,
            lambda for_cloud: transcription_context(captures, for_cloud=for_cloud),
        )
    else:
        text = await extraction.read_screen(storage, attachment)
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
