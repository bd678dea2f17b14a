"""Sending the e-mails recorded by :mod:`ticketcreator.notifications.email`.

:func:`send` runs in the subscriber of ``notification.email_due``: it locks the pending
e-mails, checks again that the person still wants e-mail and may still read each ticket,
hands one message to the SMTP server and marks them sent in the same transaction. A copy of
the event that runs again (a restarted worker, the sweep) finds them sent and sends nothing;
a concurrent copy waits for the lock. An SMTP server that is down or answers 4xx raises
:class:`~ticketcreator.core.tasks.RetriableError`: the event is retried with backoff, and the
e-mail stays pending until it is sent (should the retries run out, the sweep hands it on
again). Only if the server accepted the message and the commit then failed is it sent
twice, with the same ``Message-ID``, which mail clients show once.

:func:`sweep` (beat) hands on what no delayed event announces: digests that are due (one
e-mail per person with every ticket's changes) and e-mails still unsent long after their
send was announced.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import mail
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.core.tasks import RetriableError
from ticketcreator.notifications import email_repository as repo
from ticketcreator.notifications import preferences, unsubscribe
from ticketcreator.notifications.email import may_read
from ticketcreator.notifications.email_compose import TicketNews, compose
from ticketcreator.notifications.email_models import EmailNotification, NotificationStatus
from ticketcreator.notifications.preference_schemas import Channel, Digest, NotifiableEvent


async def send(session: AsyncSession, ids: list[uuid.UUID]) -> NotificationStatus | None:
    """Send the pending e-mails ``ids`` (one person's) as one message; returns what became
    of them, or None when there was nothing left to send."""
    pending = await repo.lock_pending(session, ids)
    if not pending:
        return None
    first = pending[0]
    members = await repo.members(session, first.organization_id, [first.user_id])
    wanted = await preferences.effective(session, first.organization_id, first.user_id)
    if not members or Channel.EMAIL not in wanted.channels or not get_settings().mail.enabled:
        return _close(pending, NotificationStatus.DROPPED, "e-mail no longer wanted")
    [member] = members
    news: list[TicketNews] = []
    for notification in pending:
        ticket = await repo.ticket(session, notification.ticket_id)
        if ticket is None or not may_read(member, ticket, internal=False):
            continue
        changes = [
            change
            for change in notification.changes
            if not change.get("internal") or may_read(member, ticket, internal=True)
        ]
        if changes:
            news.append(
                TicketNews(
                    notification_id=notification.id,
                    ticket_id=ticket.id,
                    key=ticket.key,
                    title=ticket.title,
                    status=ticket.status.value,
                    changes=changes,
                    starts_thread=any(
                        c.get("event") == NotifiableEvent.CREATED for c in notification.changes
                    ),
                )
            )
    if not news:
        return _close(pending, NotificationStatus.DROPPED, "nothing the person may read")
    version = await preferences.link_version(session, first.organization_id, first.user_id)
    message = compose(
        to_email=member.email,
        to_name=member.name,
        organization=await repo.organization_name(session, first.organization_id),
        tickets=news,
        digest=first.digest != Digest.OFF,
        unsubscribe_token=unsubscribe.token(first.organization_id, first.user_id, version),
    )
    try:
        await mail.send(message)
    except mail.MailUnavailable as exc:
        raise RetriableError(str(exc)) from exc
    except mail.MailRejected as exc:
        return _close(pending, NotificationStatus.FAILED, str(exc))
    return _close(pending, NotificationStatus.SENT, None)


def _close(
    pending: list[EmailNotification], status: NotificationStatus, error: str | None
) -> NotificationStatus:
    now = utcnow()
    for notification in pending:
        notification.status = status
        notification.error = error
        notification.sent_at = now if status is NotificationStatus.SENT else None
    return status


async def sweep(session: AsyncSession) -> int:
    """Announce due digests (one event per person) and e-mails whose send was lost;
    returns how many events it emitted."""
    now = utcnow()
    settings = get_settings().email_notifications
    due = await repo.due(session, now, now - timedelta(seconds=settings.resend_after_s))
    groups: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    digests = sorted((row for row in due if row[3] != Digest.OFF), key=lambda row: (row[1], row[2]))
    for (organization, _user), rows in itertools.groupby(digests, key=lambda r: (r[1], r[2])):
        groups.append((organization, [row[0] for row in rows]))
    groups.extend((row[1], [row[0]]) for row in due if row[3] == Digest.OFF)
    for organization, ids in groups:
        emit(
            session,
            Topic.NOTIFICATION_EMAIL_DUE,
            {"notification_ids": [str(i) for i in ids]},
            organization_id=organization,
        )
    await repo.mark_handed(session, [row[0] for row in due], now)
    return len(groups)
