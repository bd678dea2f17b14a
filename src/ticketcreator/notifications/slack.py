"""Slack: a ticket as a Block Kit message, and the interactive elements its buttons send back.

One message per ticket and channel, edited as the ticket changes: a header with the key and
title, the start of the description, status, priority and assignee, and the actions
"Assign to me", a status menu (the statuses the workflow allows next) and "Open". Only what
every member may read goes to a channel: no internal comments, no reporter details.

Slack limits (api.slack.com/reference/block-kit): a header's text 150 characters, a section's
3,000, a button's label 75 and value 2,000, an option's value 150; text is escaped for
``mrkdwn`` (``&``, ``<``, ``>``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ticketcreator.tickets.models import Status
from ticketcreator.tickets.workflow import allowed_transitions

ASSIGN_TO_ME = "assign_to_me"
SET_STATUS = "set_status"
OPEN = "open"
_DESCRIPTION_CHARS = 500
_LABELS = {
    Status.OPEN: "Open",
    Status.IN_PROGRESS: "In progress",
    Status.WAITING: "Waiting",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
}


@dataclass(frozen=True)
class TicketView:
    """What a channel may see of a ticket."""

    id: uuid.UUID
    key: str
    title: str
    description: str
    status: Status
    priority: str
    assignee: str | None
    url: str
    deleted: bool = False


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def status_value(ticket_id: uuid.UUID, status: Status) -> str:
    """The status menu's option value: the ticket and the status chosen."""
    return f"{ticket_id}:{status.value}"


def parse_status_value(value: str) -> tuple[uuid.UUID, Status]:
    """The ticket and status of an option value (``ValueError`` when malformed)."""
    ticket_id, _, status = value.partition(":")
    return uuid.UUID(ticket_id), Status(status)


def _actions(ticket: TicketView) -> dict[str, Any]:
    options = [
        {"text": _plain(_LABELS[status]), "value": status_value(ticket.id, status)}
        for status in allowed_transitions(ticket.status)
    ]
    return {
        "type": "actions",
        "block_id": "ticket_actions",
        "elements": [
            {
                "type": "button",
                "action_id": ASSIGN_TO_ME,
                "text": _plain("Assign to me"),
                "value": str(ticket.id),
                "style": "primary",
            },
            {
                "type": "static_select",
                "action_id": SET_STATUS,
                "placeholder": _plain("Change status"),
                "options": options,
            },
            {"type": "button", "action_id": OPEN, "text": _plain("Open"), "url": ticket.url},
        ],
    }


def blocks(ticket: TicketView) -> list[dict[str, Any]]:
    heading = f"{ticket.key}: {ticket.title}" + (" (deleted)" if ticket.deleted else "")
    result: list[dict[str, Any]] = [{"type": "header", "text": _plain(_cut(heading, 150))}]
    if ticket.description.strip():
        excerpt = escape(_cut(ticket.description.strip(), _DESCRIPTION_CHARS))
        result.append({"type": "section", "text": {"type": "mrkdwn", "text": excerpt}})
    assignee = escape(ticket.assignee) if ticket.assignee else "_Unassigned_"
    result.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Status*\n{_LABELS[ticket.status]}"},
                {"type": "mrkdwn", "text": f"*Priority*\n{escape(ticket.priority)}"},
                {"type": "mrkdwn", "text": f"*Assignee*\n{assignee}"},
            ],
        }
    )
    if not ticket.deleted:
        result.append(_actions(ticket))
    return result


def text(ticket: TicketView) -> str:
    """The message's plain text (notifications and screen readers)."""
    state = "deleted" if ticket.deleted else _LABELS[ticket.status].lower()
    return escape(f"{ticket.key}: {ticket.title} ({state}, {ticket.priority})")
