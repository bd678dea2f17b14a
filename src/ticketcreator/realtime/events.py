"""What the stream carries, and who may receive each event.

An outbox message becomes a stream event in two parts, kept apart on purpose:

- the **event** (``type``, ``organization_id``, ``ticket_id``, ``occurred_at``, ``data``),
  serialised once and sent unchanged to every connection allowed to see it;
- its **access** (:class:`Access`): the permission it needs, the tickets it concerns with the
  people involved in them, the uploader of an attachment, whether it is internal. It never
  leaves the server; each connection checks it against its caller (:func:`may_receive`).

Only the topics in :data:`EVENTS` reach customers (webhooks), and those of :data:`STREAMED`
the stream. Anything else (invitations, configuration, training requests) stays server-side
by default, so a new topic never leaks by accident.

A change to a ticket is streamed once, as ``ticket.updated`` with its ``changes`` (field,
old, new): a status change or an assignment is one of them. ``ticket.status_changed`` and
``ticket.assigned`` repeat it for webhooks and notifications, which subscribe to one kind of
change; streaming them too would send every connection two frames for one change.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.events import ATTACHMENT_CHANGES, TICKET_CHANGES, Topic
from ticketcreator.tickets.visibility import Visibility


class Subject(StrEnum):
    TICKET = "ticket"  # the payload names a ticket (``ticket_id``)
    ATTACHMENT = "attachment"  # the payload names an attachment (``attachment_id``)
    UPLOAD = "upload"  # the payload names an upload; only its uploader follows it


_TICKET_TOPICS = (
    *TICKET_CHANGES,
    Topic.TICKET_TRIAGED,
    Topic.TICKET_CONTENT_ADDED,
    Topic.CAPTURE_CREATED,
)
_ATTACHMENT_TOPICS = (
    *ATTACHMENT_CHANGES,
    Topic.ATTACHMENT_TEXT_EXTRACTED,
    Topic.ATTACHMENT_TRANSCRIPTION_PROGRESS,
)

# The events a customer may receive (the stream, webhooks): topic -> (what it is about, the
# permission a receiver needs).
EVENTS: dict[Topic, tuple[Subject, Permission]] = {
    **dict.fromkeys(_TICKET_TOPICS, (Subject.TICKET, Permission.TICKETS_READ)),
    **dict.fromkeys(_ATTACHMENT_TOPICS, (Subject.ATTACHMENT, Permission.ATTACHMENTS_READ)),
    Topic.UPLOAD_PROGRESS: (Subject.UPLOAD, Permission.ATTACHMENTS_READ),
}
# Repeated by ``ticket.updated``'s changes (see above): webhooks only.
_REPEATS: frozenset[Topic] = frozenset({Topic.TICKET_STATUS_CHANGED, Topic.TICKET_ASSIGNED})
# What the stream carries.
STREAMED: dict[Topic, tuple[Subject, Permission]] = {
    topic: rule for topic, rule in EVENTS.items() if topic not in _REPEATS
}


@dataclass(frozen=True)
class TicketPeople:
    """A ticket an event concerns and who is involved in it (for "my tickets" and reporters)."""

    ticket_id: uuid.UUID
    reporter_id: uuid.UUID | None = None
    involved: frozenset[uuid.UUID] = frozenset()  # reporter, assignee(s), watchers


@dataclass(frozen=True)
class Access:
    """Who may receive one event; kept on the server."""

    organization_id: uuid.UUID
    permission: Permission
    tickets: tuple[TicketPeople, ...] = ()
    owner_id: uuid.UUID | None = None  # the uploader of an attachment or upload
    internal: bool = False  # an internal note: only for callers with `comments:internal`
    ticket_ids: frozenset[uuid.UUID] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ticket_ids", frozenset(t.ticket_id for t in self.tickets))

    def reported_by(self, user_id: uuid.UUID) -> bool:
        """Whether the user may see it as a reporter: their own ticket or their own upload."""
        return self.owner_id == user_id or any(t.reporter_id == user_id for t in self.tickets)

    def involves(self, user_id: uuid.UUID) -> bool:
        return self.owner_id == user_id or any(user_id in t.involved for t in self.tickets)

    def to_json(self) -> str:
        return json.dumps(
            {
                "o": str(self.organization_id),
                "p": self.permission.value,
                "t": [
                    [str(t.ticket_id), _str(t.reporter_id), sorted(str(u) for u in t.involved)]
                    for t in self.tickets
                ],
                "u": _str(self.owner_id),
                "i": self.internal,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Access:
        data = json.loads(text)
        return cls(
            organization_id=uuid.UUID(data["o"]),
            permission=Permission(data["p"]),
            tickets=tuple(
                TicketPeople(
                    ticket_id=uuid.UUID(ticket),
                    reporter_id=_uuid(reporter),
                    involved=frozenset(uuid.UUID(u) for u in involved),
                )
                for ticket, reporter, involved in data["t"]
            ),
            owner_id=_uuid(data["u"]),
            internal=bool(data["i"]),
        )


class ScopeKind(StrEnum):
    ORGANIZATION = "organization"  # everything in the organization the caller may read
    TICKET = "ticket"  # one ticket
    MINE = "mine"  # tickets the caller reported, is assigned to or watches; their uploads


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind = ScopeKind.ORGANIZATION
    ticket_id: uuid.UUID | None = None


def may_receive(principal: Principal, visibility: Visibility, scope: Scope, access: Access) -> bool:
    """The same rules as reading over HTTP: tenant, permission, reporters' own tickets only,
    internal notes only with `comments:internal`; then the connection's scope."""
    if access.organization_id != principal.organization_id:
        return False
    if not principal.can(access.permission):
        return False
    if access.internal and not visibility.internal:
        return False
    user_id = principal.user_id
    if visibility.own_only and (user_id is None or not access.reported_by(user_id)):
        return False
    if scope.kind is ScopeKind.TICKET:
        return scope.ticket_id in access.ticket_ids
    if scope.kind is ScopeKind.MINE:
        return user_id is not None and access.involves(user_id)
    return True


def event_json(message: dict[str, Any], ticket_id: uuid.UUID | None) -> str:
    """The public part of a stream event, without its id (added when it is sent)."""
    return json.dumps(
        {
            "type": message["topic"],
            "organization_id": message["organization_id"],
            "ticket_id": str(ticket_id) if ticket_id else None,
            "occurred_at": message["occurred_at"],
            "data": message["payload"],
        },
        separators=(",", ":"),
    )


def with_id(stream_id: str, event: str) -> str:
    """The event as sent over WebSocket: its stream id first."""
    return '{"id":"' + stream_id + '",' + event[1:]


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None
