"""E-mail notifications about tickets: who is told what (recording), without storms.

A change to a ticket concerns its reporter, its assignee (the previous one too, when it is
reassigned) and its watchers, never the person who made it. Each of them hears only of what
they may read: a reporter only of their own tickets and never of an internal note, a
member of another organization nothing. Their preferences choose the events, whether e-mail
is wanted, quiet hours and digests (:mod:`ticketcreator.notifications.preferences`).

Storms are coalesced: the first change for a person starts a pending e-mail due after the
coalescing window (``email_notifications.coalesce_window_s``); the changes that follow within
it are added to the same e-mail, so a hundred changes make one e-mail listing them. Its send
is announced as a delayed ``notification.email_due`` event; digests and e-mails whose send
was lost are handed on by the periodic sweep (:mod:`ticketcreator.notifications.email_sending`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.permissions import OWN_TICKETS_ONLY, ROLE_PERMISSIONS, Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.notifications import email_repository as repo
from ticketcreator.notifications import preferences, schedule
from ticketcreator.notifications.email_repository import Member
from ticketcreator.notifications.preference_schemas import Channel, Digest, NotifiableEvent
from ticketcreator.tickets.models import Ticket

TOPICS = (
    Topic.TICKET_CREATED,
    Topic.TICKET_UPDATED,  # status and assignee changes included (ticket.status_changed and
    Topic.TICKET_COMMENTED,  # ticket.assigned repeat them, and are not subscribed)
    Topic.TICKET_DELETED,
    Topic.TICKET_RESTORED,
)
_FIELD_EVENTS = {"status": NotifiableEvent.STATUS_CHANGED, "assignee_id": NotifiableEvent.ASSIGNED}
_ACTORS = {"ai": "AI triage", "system": "Ticket Creator", "api_key": "An API client"}
EXCERPT = 2000  # characters of a comment or description quoted in an e-mail


@dataclass(frozen=True)
class Change:
    event: NotifiableEvent
    internal: bool
    entry: dict[str, Any]  # what the e-mail lists (JSON)


def may_read(member: Member, ticket: Ticket, internal: bool) -> bool:
    """The reading rules of the API, for a member receiving news of ``ticket``."""
    permissions = ROLE_PERMISSIONS[member.role]
    if Permission.TICKETS_READ not in permissions:
        return False
    if member.role in OWN_TICKETS_ONLY and ticket.reporter_id != member.user_id:
        return False
    return not internal or Permission.COMMENTS_INTERNAL in permissions


async def record(session: AsyncSession, message: dict[str, Any]) -> list[uuid.UUID]:
    """Add the change announced by ``message`` to the pending e-mail of each person it
    concerns; returns the e-mails it started."""
    if not get_settings().mail.enabled:
        return []
    payload: dict[str, Any] = message["payload"]
    ticket = await repo.ticket(session, uuid.UUID(payload["ticket_id"]))
    if ticket is None or str(ticket.organization_id) != message["organization_id"]:
        return []
    changes, previous = await _changes(session, message, ticket)
    if not changes:
        return []
    actor = _uuid(payload.get("actor_user_id"))
    involved = {ticket.reporter_id, ticket.assignee_id, *previous}
    involved.update(await repo.watchers(session, ticket.id))
    people = {person for person in involved if person is not None and person != actor}
    started: list[uuid.UUID] = []
    for member in await repo.members(session, ticket.organization_id, sorted(people)):
        notification = await _add(session, ticket, member, changes)
        if notification is not None:
            started.append(notification)
    return started


async def _add(
    session: AsyncSession, ticket: Ticket, member: Member, changes: list[Change]
) -> uuid.UUID | None:
    wanted = await preferences.effective(session, ticket.organization_id, member.user_id)
    if Channel.EMAIL not in wanted.channels:
        return None
    settings = get_settings().email_notifications
    now = utcnow()
    due = schedule.due_at(
        now,
        window_s=settings.coalesce_window_s,
        digest=wanted.digest,
        quiet=wanted.quiet_hours,
        zone=wanted.zone(),
        daily_hour=settings.daily_digest_hour,
    )
    started: uuid.UUID | None = None
    for change in changes:
        if change.event not in wanted.events or not may_read(member, ticket, change.internal):
            continue
        notification, new = await repo.add_change(
            session,
            organization_id=ticket.organization_id,
            user_id=member.user_id,
            ticket_id=ticket.id,
            change={**change.entry, "event": change.event.value, "internal": change.internal},
            due_at=due,
            handed_at=due if wanted.digest is Digest.OFF else None,
            digest=wanted.digest.value,
        )
        if new:
            started = notification
            if wanted.digest is Digest.OFF:
                emit(
                    session,
                    Topic.NOTIFICATION_EMAIL_DUE,
                    {"notification_ids": [str(notification)]},
                    organization_id=ticket.organization_id,
                    delay=max(due - now, timedelta(0)),
                )
    return started


async def _changes(
    session: AsyncSession, message: dict[str, Any], ticket: Ticket
) -> tuple[list[Change], set[uuid.UUID]]:
    """What the event changed, as e-mail entries; and the previous assignees it concerns."""
    payload: dict[str, Any] = message["payload"]
    topic = message["topic"]
    base = {"at": message["occurred_at"], "actor": await _actor(session, payload)}
    if topic == Topic.TICKET_CREATED:
        entry = {**base, "summary": "created the ticket", "detail": ticket.description[:EXCERPT]}
        return [Change(NotifiableEvent.CREATED, False, entry)], set()
    if topic == Topic.TICKET_COMMENTED:
        comment = await repo.comment(session, uuid.UUID(payload["comment_id"]))
        if comment is None or comment.deleted_at is not None:
            return [], set()
        summary = "added an internal note" if comment.internal else "commented"
        entry = {**base, "summary": summary, "detail": comment.body[:EXCERPT]}
        return [Change(NotifiableEvent.COMMENTED, comment.internal, entry)], set()
    if topic in (Topic.TICKET_DELETED, Topic.TICKET_RESTORED):
        event = NotifiableEvent(topic)
        verb = "deleted" if event is NotifiableEvent.DELETED else "restored"
        return [Change(event, False, {**base, "summary": f"{verb} the ticket"})], set()
    fields: list[dict[str, Any]] = payload.get("changes", [])
    assignees = {
        _uuid(c.get(side)) for c in fields if c["field"] == "assignee_id" for side in ("old", "new")
    }
    names = await repo.user_names(session, [a for a in assignees if a is not None])
    changes = []
    for field in fields:
        event = _FIELD_EVENTS.get(field["field"], NotifiableEvent.UPDATED)
        old, new = (_shown(field["field"], field.get(side), names) for side in ("old", "new"))
        summary = f"changed {field['field'].removesuffix('_id')}: {old} → {new}"
        changes.append(Change(event, False, {**base, "summary": summary}))
    previous = {_uuid(c.get("old")) for c in fields if c["field"] == "assignee_id"}
    return changes, {p for p in previous if p is not None}


async def _actor(session: AsyncSession, payload: dict[str, Any]) -> str:
    user = _uuid(payload.get("actor_user_id"))
    if user is not None:
        return (await repo.user_names(session, [user])).get(user, "Someone")
    return _ACTORS.get(payload.get("actor_kind", ""), "Someone")


def _shown(field: str, value: Any, names: dict[uuid.UUID, str]) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if field == "assignee_id":
        return names.get(uuid.UUID(value), "a former member")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)[:200]


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if isinstance(value, str) and value else None
