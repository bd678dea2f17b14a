"""Worker side of attachments: the media-processing subscribers (``media`` queue)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.attachments import processing
from ticketcreator.attachments.service import UPLOADED
from ticketcreator.storage import get_storage
from ticketcreator.worker import subscriber


def _attachment_id(message: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(message["payload"]["attachment_id"])


@subscriber(UPLOADED, queue="media")
async def start_processing(session: AsyncSession, message: dict[str, Any]) -> None:
    """A new attachment: mark it ``processing`` (announced as ``attachment.processing``)."""
    await processing.start(session, _attachment_id(message))


@subscriber(processing.PROCESSING, queue="media")
async def process_media(session: AsyncSession, message: dict[str, Any]) -> None:
    """Probe, render the poster and thumbnail, extract the audio; ``ready`` or ``failed``."""
    await processing.process(session, get_storage(), _attachment_id(message))
