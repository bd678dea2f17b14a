"""A ticket's message per Slack channel: posted once, then edited as the ticket changes,
without storms.

Which channels: the channel of the ticket's team, and every channel where the ticket already
has a message (a rule's ``notify_slack`` put it there). With an incoming webhook, the
webhook's channel gets a message when a ticket is created, and no edits (a webhook cannot
edit).

No storms: a change marks the message due (``slack.message_due``, an outbox event). A new
message is due at once; an edit is due ``slack.update_interval_s`` after the previous call,
and changes while an edit is due add nothing (the edit shows the ticket as it is then). So
100 changes in a minute are one ``chat.postMessage`` and about one ``chat.update`` per
interval. Slack's 429 reschedules the message after its ``Retry-After``; an unavailable
Slack is tried again (``slack.max_attempts``); every refusal is recorded in the connection's
health (``last_error``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.integrations.http import RateLimited, VendorError
from ticketcreator.notifications import repository, slack, slack_repository, slack_settings
from ticketcreator.notifications.models import SlackConnection, SlackMessage
from ticketcreator.notifications.slack_client import SlackClient
from ticketcreator.tickets.models import Ticket

WEBHOOK_CHANNEL = "webhook"
# The changes a message shows (a status or assignee change comes with ticket.updated too).
SHOWN = (Topic.TICKET_CREATED, Topic.TICKET_UPDATED, Topic.TICKET_DELETED, Topic.TICKET_RESTORED)


async def ticket_changed(session: AsyncSession, message: dict[str, Any]) -> None:
    """Mark the ticket's messages due after one of its changes."""
    ticket = await repository.ticket(session, uuid.UUID(message["payload"]["ticket_id"]))
    if ticket is None:
        return
    connection = await slack_repository.connection(session, ticket.organization_id)
    if connection is None:
        return
    channels = set(await slack_repository.message_channels(session, ticket.id))
    if connection.bot_token and ticket.team_id is not None:
        team = await slack_repository.team_channel(session, ticket.organization_id, ticket.team_id)
        if team is not None:
            channels.add(team.channel)
    if connection.webhook_url and message["topic"] == Topic.TICKET_CREATED:
        channels.add(WEBHOOK_CHANNEL)
    for channel in sorted(channels):
        await mark_due(session, ticket, channel)


async def rule_notified(session: AsyncSession, message: dict[str, Any]) -> None:
    """A rule's ``notify_slack`` action: the ticket gets a message in the rule's channel."""
    payload = message["payload"]
    if "channel" not in payload:
        return  # a webhook notification
    ticket = await repository.ticket(session, uuid.UUID(payload["ticket_id"]))
    if ticket is not None:
        await mark_due(session, ticket, payload["channel"])


async def mark_due(session: AsyncSession, ticket: Ticket, channel: str) -> None:
    row = await slack_repository.lock_message_of(
        session, ticket.organization_id, ticket.id, channel
    )
    if row.due_at is not None:
        return  # already due: that call will show this change too
    now = utcnow()
    interval = timedelta(seconds=get_settings().slack.update_interval_s)
    due = now if row.synced_at is None else max(now, row.synced_at + interval)
    _schedule(session, row, due)


def _schedule(session: AsyncSession, row: SlackMessage, due: Any) -> None:
    row.due_at = due
    delay = due - utcnow()
    emit(
        session,
        Topic.SLACK_MESSAGE_DUE,
        {"message_id": str(row.id)},
        organization_id=row.organization_id,
        delay=delay if delay.total_seconds() > 0 else None,
    )


async def send(session: AsyncSession, message_id: uuid.UUID) -> None:
    """Post or edit a due message (the row stays locked during the call, so a message is
    never posted twice); reschedule it when Slack asks to wait or is unavailable."""
    row = await slack_repository.lock_message(session, message_id)
    if row is None or row.due_at is None:
        return
    connection = await slack_repository.connection(session, row.organization_id)
    ticket = await repository.ticket(session, row.ticket_id)
    if connection is None or ticket is None or (row.synced_at and row.channel == WEBHOOK_CHANNEL):
        row.due_at = None
        return
    view = await _view(session, ticket)
    try:
        await _call(connection, row, view)
    except RateLimited as exc:
        slack_settings.record(connection, VendorError(f"rate limited: {exc}"))
        _schedule(session, row, utcnow() + timedelta(seconds=exc.retry_after))
        return
    except VendorError as exc:
        slack_settings.record(connection, exc)
        row.attempts += 1
        if exc.retriable and row.attempts < get_settings().slack.max_attempts:
            _schedule(session, row, utcnow() + timedelta(seconds=2**row.attempts))
            return
        row.due_at = None
        row.attempts = 0
        return
    slack_settings.record(connection, None)
    row.due_at = None
    row.attempts = 0
    row.synced_at = utcnow()


async def _call(connection: SlackConnection, row: SlackMessage, view: slack.TicketView) -> None:
    text, blocks = slack.text(view), slack.blocks(view)
    async with SlackClient(connection.organization_id) as client:
        if row.channel == WEBHOOK_CHANNEL:
            assert connection.webhook_url is not None
            await client.post_to_webhook(connection.webhook_url, text, blocks)
        elif connection.bot_token is None:
            raise VendorError("chat.postMessage: the connection has no bot token")
        elif row.ts is None:
            row.ts = await client.post(connection.bot_token, row.channel, text, blocks)
        else:
            await client.update(connection.bot_token, row.channel, row.ts, text, blocks)


async def _view(session: AsyncSession, ticket: Ticket) -> slack.TicketView:
    base = get_settings().app.public_base_url.rstrip("/")
    assignee = None
    if ticket.assignee_id is not None:
        assignee = await slack_repository.user_name(session, ticket.assignee_id)
    return slack.TicketView(
        id=ticket.id,
        key=ticket.key,
        title=ticket.title,
        description=ticket.description or "",
        status=ticket.status,
        priority=str(ticket.priority),
        assignee=assignee,
        url=f"{base}/v1/tickets/{ticket.key}",
        deleted=ticket.deleted_at is not None,
    )
