"""Microsoft Teams: ticket events as Adaptive Cards 1.5, for Workflows ("post to a channel
when a webhook request is received") and incoming-webhook URLs.

The request is the Bot Framework-style message Teams expects, with one card attachment.
Teams refuses messages over about 28 KB, so a card that would be larger has its description
cut (ending in "…") and keeps its "Open ticket" link to the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ticketcreator.core.events import Topic

MAX_BYTES = 27_000  # Teams' limit is ~28 KB for the whole request; keep a margin
CARD_VERSION = "1.5"
_TITLES: dict[str, str] = {
    Topic.TICKET_CREATED: "New ticket",
    Topic.TICKET_UPDATED: "Ticket updated",
    Topic.TICKET_STATUS_CHANGED: "Status changed",
    Topic.TICKET_ASSIGNED: "Ticket assigned",
    Topic.TICKET_COMMENTED: "New comment",
    Topic.TICKET_TRIAGED: "Ticket triaged",
    Topic.TICKET_DELETED: "Ticket deleted",
    Topic.TICKET_RESTORED: "Ticket restored",
    Topic.ROUTING_NOTIFY: "Routing rule matched",
}


@dataclass(frozen=True)
class TicketSummary:
    key: str
    title: str
    description: str
    status: str
    priority: str
    url: str


def _card(event_type: str, ticket: TicketSummary, description: str) -> dict[str, Any]:
    heading = _TITLES.get(event_type, event_type)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": heading, "size": "small", "isSubtle": True, "wrap": True},
        {
            "type": "TextBlock",
            "text": f"{ticket.key}: {ticket.title}",
            "weight": "bolder",
            "size": "medium",
            "wrap": True,
            "style": "heading",
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": "Status", "value": ticket.status},
                {"title": "Priority", "value": ticket.priority},
            ],
        },
    ]
    if description:
        body.append({"type": "TextBlock", "text": description, "wrap": True})
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open ticket", "url": ticket.url}],
    }


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def _size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":")).encode())


def message(event_type: str, ticket: TicketSummary) -> dict[str, Any]:
    """The Teams request for one ticket event, within :data:`MAX_BYTES`."""
    full = _envelope(_card(event_type, ticket, ticket.description))
    if _size(full) <= MAX_BYTES:
        return full
    overhead = _size(_envelope(_card(event_type, ticket, "")))
    budget = MAX_BYTES - overhead - 64
    text = ticket.description
    # Cut by bytes (JSON escaping can make a character take several), then on a word.
    while text and len(json.dumps(text).encode()) > budget:
        text = text[: max(len(text) * budget // len(json.dumps(text).encode()) - 1, 0)]
    cut = text.rsplit(" ", 1)[0] if " " in text[-200:] else text
    return _envelope(_card(event_type, ticket, cut.rstrip() + " …"))
