"""Worker side of attachments: the media-processing subscribers (``media`` queue).

The media libraries (PyAV, Pillow, the transcription stack) are imported when a task runs,
not with this module: the API process imports it to know the subscribers and must not pay
for them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.storage import get_storage


def _attachment_id(message: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(message["payload"]["attachment_id"])


@subscriber(Topic.ATTACHMENT_UPLOADED, queue="media")
async def start_processing(session: AsyncSession, message: dict[str, Any]) -> None:
    """A new attachment: mark it ``processing`` (announced as ``attachment.processing``)."""
    from ticketcreator.attachments import processing

    await processing.start(session, _attachment_id(message))


@subscriber(Topic.ATTACHMENT_PROCESSING, queue="media")
async def process_media(session: AsyncSession, message: dict[str, Any]) -> None:
    """Probe, render the poster and thumbnail, extract the audio; ``ready`` or ``failed``."""
    from ticketcreator.attachments import processing

    await processing.process(session, get_storage(), _attachment_id(message))


@subscriber(Topic.ATTACHMENT_ERASED, queue="media")
async def erase_files(session: AsyncSession, message: dict[str, Any]) -> None:
    """Attachments were erased (their ticket was purged): remove their stored files."""
    from ticketcreator.attachments import service

    await service.erase_files(
        get_storage(),
        uuid.UUID(message["organization_id"]),
        [uuid.UUID(attachment_id) for attachment_id in message["payload"]["attachment_ids"]],
    )


async def _requeue_stuck() -> int:
    from ticketcreator.attachments import processing

    async with session_factory()() as session:
        requeued = await processing.requeue_stuck(session)
        await commit(session)
    return requeued


@celery_app.task(name="attachments.requeue_stuck")  # type: ignore[untyped-decorator]
def requeue_stuck() -> int:
    """Periodic: queue again the attachments stuck pending or processing."""
    return run_async(_requeue_stuck())
