"""Worker side of accounts (``integrations`` queue): invitation e-mails.

An unreachable or busy SMTP server gets the task retried with backoff; the event is handled
once per invitation (outbox deduplication), and the stored token is erased after sending.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import invitations
from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.mail import MailUnavailable
from ticketcreator.core.tasks import RetriableError


async def mail_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> bool:
    """Send the invitation e-mail; a passing SMTP failure raises :class:`RetriableError`."""
    try:
        return await invitations.send_invitation_email(session, invitation_id)
    except MailUnavailable as exc:
        raise RetriableError(str(exc)) from exc


@subscriber(Topic.INVITATION_CREATED, queue="integrations")
async def send_invitation_email(session: AsyncSession, message: dict[str, Any]) -> None:
    """A new invitation: e-mail the accept link to the invitee (if mail is enabled)."""
    await mail_invitation(session, uuid.UUID(message["payload"]["invitation_id"]))
