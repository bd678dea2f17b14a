"""Teams cards without storms: per endpoint and ticket, at most one card per window, and
every change on one of them.

A Workflows webhook cannot edit a card it posted, so a ticket's changes cannot be shown by
editing one message as Slack's are. The same mechanism holds them instead: a row per
endpoint and ticket (:class:`~ticketcreator.notifications.models.TeamsCard`), locked while
it changes. A change with no card sent within the window is sent at once. A change within
it is held, and the first one held schedules a delayed ``teams.card_due`` event for the end
of the window; that event makes one card of everything held, showing the ticket as it is
then. So 100 changes in a minute (``webhooks.teams_coalesce_window_s``) are two cards, and
the last shows the final state.

A bot (:mod:`.teams_bot`) posts its first card and then updates that card: each card it is
given lists the latest changes the card has shown so far, and its window is the shorter
``webhooks.teams_bot_update_interval_s``. So 100 changes in a minute are one message in the
conversation, updated a few times, its last version showing the final state.

Each card becomes an ordinary delivery of the endpoint (retried, logged;
:mod:`.webhooks`), recorded in the transaction that handled the event, which the outbox
commits once: a worker that dies before the commit leaves nothing behind, and the event
runs again. A change is sent or held once (by its event's id: the delivery of its own card,
or its entry among those held) and a held card is one delivery (the due event's id), so a
redelivered event neither lists a change twice nor sends a card twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.notifications import repository, teams
from ticketcreator.notifications.models import EndpointFormat, TeamsCard, WebhookEndpoint
from ticketcreator.tickets.models import Ticket


async def card_now(
    session: AsyncSession, endpoint: WebhookEndpoint, ticket: Ticket, message: dict[str, Any]
) -> dict[str, Any] | None:
    """The card announcing the change of ``message`` if it goes at once; None when it is
    held for the card at the end of the window."""
    row = await repository.lock_card(session, endpoint, ticket.id)
    change = teams.change_of(message["topic"], message["payload"])
    entry = {
        "event_id": message["id"],
        "at": message["occurred_at"],
        "topic": change.topic,
        "detail": change.detail,
    }
    if any(held["event_id"] == message["id"] for held in row.held) or await repository.recorded(
        session, endpoint.id, uuid.UUID(message["id"])
    ):
        return None  # a redelivered event, already held or sent
    now = utcnow()
    window = _window(endpoint)
    if row.due_at is not None:
        row.held = [*row.held, entry]
        return None
    if row.sent_at is not None and now < row.sent_at + window:
        row.held = [entry]
        row.due_at = row.sent_at + window
        emit(
            session,
            Topic.TEAMS_CARD_DUE,
            {"endpoint_id": str(endpoint.id), "ticket_id": str(ticket.id)},
            organization_id=endpoint.organization_id,
            delay=row.due_at - now,
        )
        return None
    row.sent_at = now
    return _made(endpoint, row, ticket, [change])


async def held_card(
    session: AsyncSession, message: dict[str, Any]
) -> tuple[WebhookEndpoint, str, dict[str, Any]] | None:
    """The endpoint, the last change's topic and one card of the changes held for it, now
    that the window is over; None when nothing is held (already sent) or the endpoint was
    disabled meanwhile."""
    payload = message["payload"]
    endpoint_id, ticket_id = uuid.UUID(payload["endpoint_id"]), uuid.UUID(payload["ticket_id"])
    row = await repository.lock_held_card(session, endpoint_id, ticket_id)
    if row is None or row.due_at is None:
        return None
    held, row.held, row.due_at, row.sent_at = row.held, [], None, utcnow()
    endpoint = await repository.endpoint(session, row.organization_id, endpoint_id)
    ticket = await repository.ticket(session, ticket_id)
    assert endpoint is not None  # the row is deleted with its endpoint
    assert ticket is not None  # and with its ticket
    if not endpoint.enabled:
        return None
    # Workers handle a ticket's events concurrently, so they are held in the order they were
    # handled; the card lists them in the order they happened (UTC ISO times sort as text;
    # an entry held before its time was recorded comes first).
    in_order = sorted(held, key=lambda entry: str(entry.get("at", "")))
    changes = [teams.Change(entry["topic"], entry["detail"]) for entry in in_order]
    return endpoint, changes[-1].topic, _made(endpoint, row, ticket, changes)


def _window(endpoint: WebhookEndpoint) -> timedelta:
    cfg = get_settings().webhooks
    if endpoint.format == EndpointFormat.TEAMS_BOT.value:
        return timedelta(seconds=cfg.teams_bot_update_interval_s)
    return timedelta(seconds=cfg.teams_coalesce_window_s)


def _made(
    endpoint: WebhookEndpoint, row: TeamsCard, ticket: Ticket, changes: list[teams.Change]
) -> dict[str, Any]:
    """The delivery's body announcing ``changes``: a Workflows webhook's new card, or the
    next version of a bot's card (numbered, for :mod:`.teams_bot`) with every change it has
    shown, the latest :data:`~.teams.LISTED` of them named."""
    if endpoint.format != EndpointFormat.TEAMS_BOT.value:
        return teams.message(summary(ticket), changes)
    added = [{"topic": change.topic, "detail": change.detail} for change in changes]
    row.shown = [*row.shown, *added][-teams.LISTED :]
    row.shown_total += len(changes)
    row.cards_made += 1
    shown = [teams.Change(entry["topic"], entry["detail"]) for entry in row.shown]
    activity = teams.message(summary(ticket), shown, earlier=row.shown_total - len(shown))
    return {"ticket_id": str(ticket.id), "card": row.cards_made, "activity": activity}


def summary(ticket: Ticket) -> teams.TicketSummary:
    base = get_settings().app.public_base_url.rstrip("/")
    return teams.TicketSummary(
        key=ticket.key,
        title=ticket.title,
        description=ticket.description or "",
        status=str(ticket.status),
        priority=str(ticket.priority),
        url=f"{base}/v1/tickets/{ticket.key}",
    )
