"""Worker side of outgoing webhooks and Slack (``integrations`` queue) and of e-mail
notifications."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.events import Topic, emit, subscriber
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.notifications import (
    email,
    email_sending,
    slack_interactions,
    slack_messages,
    webhooks,
)


def enqueue(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> None:
    """Announce these deliveries as due (``webhook.delivery_due``): each is attempted once
    the transaction commits; a failed attempt is scheduled for the retry sweep."""
    for delivery_id in delivery_ids:
        emit(session, Topic.WEBHOOK_DELIVERY_DUE, {"delivery_id": str(delivery_id)})


@subscriber(webhooks.EVENT_TYPES, queue="integrations")
async def record_webhook_deliveries(session: AsyncSession, message: dict[str, Any]) -> None:
    """Every event an endpoint subscribed to becomes a delivery to it."""
    enqueue(session, await webhooks.record(session, message))


@subscriber(Topic.ROUTING_NOTIFY, queue="integrations")
async def record_rule_notification(session: AsyncSession, message: dict[str, Any]) -> None:
    """A routing rule's notify action: a delivery to the endpoint it names."""
    enqueue(session, await webhooks.record_for_rule(session, message))


@subscriber(Topic.TEAMS_CARD_DUE, queue="integrations")
async def record_held_teams_card(session: AsyncSession, message: dict[str, Any]) -> None:
    """A Teams endpoint's coalescing window ended: the changes held become one card."""
    enqueue(session, await webhooks.record_held_card(session, message))


@subscriber(Topic.WEBHOOK_DELIVERY_DUE, queue="integrations")
async def deliver_webhook(session: AsyncSession, message: dict[str, Any]) -> None:
    """One attempt of one delivery (failures are scheduled for the retry sweep)."""
    await webhooks.attempt(session, uuid.UUID(message["payload"]["delivery_id"]))


@subscriber(slack_messages.SHOWN, queue="integrations")
async def mark_slack_messages_due(session: AsyncSession, message: dict[str, Any]) -> None:
    """A ticket changed: its Slack messages are to be posted or edited (debounced)."""
    await slack_messages.ticket_changed(session, message)


@subscriber(Topic.ROUTING_NOTIFY, queue="integrations")
async def mark_rule_slack_message_due(session: AsyncSession, message: dict[str, Any]) -> None:
    """A routing rule's notify_slack action: the ticket gets a message in its channel."""
    await slack_messages.rule_notified(session, message)


@subscriber(Topic.SLACK_MESSAGE_DUE, queue="integrations")
async def send_slack_message(session: AsyncSession, message: dict[str, Any]) -> None:
    """Post or edit one ticket's Slack message."""
    await slack_messages.send(session, uuid.UUID(message["payload"]["message_id"]))


@subscriber(Topic.SLACK_REPLY_DUE, queue="integrations")
async def reply_in_slack(session: AsyncSession, message: dict[str, Any]) -> None:
    """Answer a click in Slack (visibly only to the person who clicked), or a direct message
    to the app in its conversation."""
    payload = message["payload"]
    organization_id = uuid.UUID(message["organization_id"])
    if "channel" in payload:
        await slack_interactions.answer(
            session, organization_id, payload["channel"], payload["text"]
        )
    else:
        await slack_interactions.reply(organization_id, payload["response_url"], payload["text"])


async def _retry_due() -> int:
    async with session_factory()() as session:
        ids = await webhooks.due(session)
        enqueue(session, ids)
        await commit(session)
    return len(ids)


@celery_app.task(name="webhooks.retry_due", queue="integrations")  # type: ignore[untyped-decorator]
def retry_due() -> int:
    """Periodic: hand deliveries whose next attempt is due to the worker."""
    return run_async(_retry_due())


@subscriber(email.TOPICS)
async def record_email_notifications(session: AsyncSession, message: dict[str, Any]) -> None:
    """A change to a ticket: add it to the pending e-mail of each person it concerns."""
    await email.record(session, message)


@subscriber(Topic.NOTIFICATION_EMAIL_DUE, queue="integrations")
async def send_email_notification(session: AsyncSession, message: dict[str, Any]) -> None:
    """Send one person's due e-mail (a passing SMTP failure is retried with backoff)."""
    ids = [uuid.UUID(value) for value in message["payload"]["notification_ids"]]
    await email_sending.send(session, ids)


async def _email_sweep() -> int:
    async with session_factory()() as session:
        count = await email_sending.sweep(session)
        await commit(session)
    return count


@celery_app.task(name="notifications.email_sweep", queue="default")  # type: ignore[untyped-decorator]
def email_sweep() -> int:
    """Periodic: hand due digests and e-mails whose send was lost to the worker."""
    return run_async(_email_sweep())
