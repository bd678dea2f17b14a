"""Microsoft Teams: ticket changes as Adaptive Cards 1.5, for Workflows ("post to a channel
when a webhook request is received") and incoming-webhook URLs, and for a bot's card.

The request is the Bot Framework message activity Teams expects, with one card attachment. A
card shows the ticket as it is when the card is made and the changes it announces: one (its
kind is the card's heading) or several held together (:mod:`.teams_cards`), listed, the
latest :data:`LISTED` of them. Only what the card showed before is named: status and
priority values, the names of other changed fields, a rule's name. Teams refuses messages
over about 28 KB, so a card that would be larger has its description cut (ending in "…")
and keeps its "Open ticket" link to the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ticketcreator.core.events import Topic

MAX_BYTES = 27_000  # Teams' limit is ~28 KB for the whole request; keep a margin
CARD_VERSION = "1.5"
LISTED = 20  # changes named on one card; earlier ones are counted
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
_VALUES_SHOWN = ("status", "priority")  # on the card anyway


@dataclass(frozen=True)
class TicketSummary:
    key: str
    title: str
    description: str
    status: str
    priority: str
    url: str


@dataclass(frozen=True)
class Change:
    """One change a card announces: the event's topic and what it changed."""

    topic: str
    detail: str = ""

    @property
    def line(self) -> str:
        title = _TITLES.get(self.topic, self.topic)
        return f"{title}: {self.detail}" if self.detail else title


def change_of(topic: str, payload: dict[str, Any]) -> Change:
    """What an event changed, in the terms a card may show."""
    if topic == Topic.TICKET_UPDATED:
        parts = [_field(c) for c in payload.get("changes", []) if isinstance(c, dict)]
        return Change(topic, ", ".join(parts))
    if topic == Topic.TICKET_STATUS_CHANGED:
        return Change(topic, f"{payload.get('old')} → {payload.get('new')}")
    if topic == Topic.ROUTING_NOTIFY:
        return Change(topic, str(payload.get("rule") or ""))
    return Change(topic)


def _field(change: dict[str, Any]) -> str:
    field = str(change.get("field", ""))
    if field in _VALUES_SHOWN:
        return f"{field} {change.get('old')} → {change.get('new')}"
    return field.removesuffix("_id")


def _listing(changes: Sequence[Change], earlier: int) -> str:
    lines = [f"- {change.line}" for change in changes[-LISTED:]]
    unlisted = earlier + max(len(changes) - LISTED, 0)
    if unlisted:
        lines.insert(0, f"- … and {unlisted} earlier changes")
    return "\n".join(lines)


def _card(
    ticket: TicketSummary, changes: Sequence[Change], earlier: int, description: str
) -> dict[str, Any]:
    if len(changes) + earlier == 1:
        heading = _TITLES.get(changes[0].topic, changes[0].topic)
    else:
        heading = f"{len(changes) + earlier} changes"
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
    if len(changes) + earlier > 1 or any(change.detail for change in changes):
        body.append({"type": "TextBlock", "text": _listing(changes, earlier), "wrap": True})
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


def message(ticket: TicketSummary, changes: Sequence[Change], earlier: int = 0) -> dict[str, Any]:
    """The Teams message announcing ``changes`` (at least one; after ``earlier`` others it
    only counts) to the ticket, within :data:`MAX_BYTES`."""
    full = _envelope(_card(ticket, changes, earlier, ticket.description))
    if _size(full) <= MAX_BYTES:
        return full
    overhead = _size(_envelope(_card(ticket, changes, earlier, "")))
    budget = MAX_BYTES - overhead - 64
    text = ticket.description
    # Cut by bytes (JSON escaping can make a character take several), then on a word.
    while text and len(json.dumps(text).encode()) > budget:
        text = text[: max(len(text) * budget // len(json.dumps(text).encode()) - 1, 0)]
    cut = text.rsplit(" ", 1)[0] if " " in text[-200:] else text
    return _envelope(_card(ticket, changes, earlier, cut.rstrip() + " …"))
