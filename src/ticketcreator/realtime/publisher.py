"""Worker side of the stream: every outbox event worth streaming goes to Redis with its
access rules (see :mod:`ticketcreator.realtime.events`).

The rules are read from the database when the event is published: the organization of the
ticket or attachment, its reporter, assignee and watchers, the uploader. A ticket that no
longer exists (purged) is described by the snapshot its event carries.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.realtime import bus, repository
from ticketcreator.realtime.events import STREAMED, Access, Subject, TicketPeople, event_json
from ticketcreator.realtime.repository import TicketRow


async def publish(session: AsyncSession, message: dict[str, Any]) -> str | None:
    """Stream one outbox message; returns its stream id, or None when it is not streamed."""
    rule = STREAMED.get(message["topic"])
    if rule is None:
        return None
    subject, permission = rule
    payload: dict[str, Any] = message["payload"]
    organization = _uuid(message.get("organization_id"))
    people: list[TicketPeople] = []
    owner: uuid.UUID | None = None
    ticket_id = _uuid(payload.get("ticket_id"))
    if subject is Subject.ATTACHMENT:
        found = await repository.attachment(session, uuid.UUID(payload["attachment_id"]))
        if found is None:
            return None
        organization, owner, ticket_ids = found
        people = _people(await repository.tickets(session, ticket_ids), ticket_ids, payload)
    elif subject is Subject.UPLOAD:
        upload = await repository.upload(session, uuid.UUID(payload["upload_id"]))
        if upload is None:
            return None
        organization, owner = upload
    elif ticket_id is not None:
        rows = await repository.tickets(session, [ticket_id])
        if rows:
            organization = rows[0][1]
        people = _people(rows, [ticket_id], payload)
    if organization is None:
        return None
    access = Access(
        organization_id=organization,
        permission=permission,
        tickets=tuple(people),
        owner_id=owner,
        internal=bool(payload.get("internal", False)),
    )
    event = event_json(
        {**message, "organization_id": str(organization)},
        ticket_id if subject is Subject.TICKET else (people[0].ticket_id if people else None),
    )
    return await bus.publish(access, event)


def _people(
    rows: list[TicketRow], ticket_ids: list[uuid.UUID], payload: dict[str, Any]
) -> list[TicketPeople]:
    """Who is involved in each ticket: from its row (``repository.tickets``), or from the
    event's snapshot when it is purged."""
    # A change of assignee concerns the previous assignee as well as the new one.
    previous = next(
        (
            _uuid(change.get("old"))
            for change in payload.get("changes") or ()
            if isinstance(change, dict) and change.get("field") == "assignee_id"
        ),
        None,
    )
    found = {row[0]: row for row in rows}
    people = []
    for ticket_id in ticket_ids:
        row = found.get(ticket_id)
        if row is not None:
            _id, _org, reporter, assignee, watchers = row
        else:  # purged: the event's snapshot still says who was involved
            snapshot = payload.get("snapshot") or {}
            reporter, assignee, watchers = (
                _uuid(snapshot.get("reporter_id")),
                _uuid(snapshot.get("assignee_id")),
                [],
            )
        involved = {user for user in (reporter, assignee, *watchers) if user is not None}
        if previous is not None:
            involved.add(previous)
        people.append(
            TicketPeople(ticket_id=ticket_id, reporter_id=reporter, involved=frozenset(involved))
        )
    return people


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if isinstance(value, str) and value else None
