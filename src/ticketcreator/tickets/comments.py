"""Comments on a ticket (public replies and internal notes) and its timeline: events and
comments in one list, oldest first, one page at a time behind an opaque cursor.

A comment that changes what the public sees of a ticket refreshes its search document.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.core.events import Topic
from ticketcreator.core.pagination import decode_position, encode_position
from ticketcreator.tickets import comment_repository as repo
from ticketcreator.tickets import history
from ticketcreator.tickets.models import Comment, Ticket
from ticketcreator.tickets.schemas import (
    CommentCreate,
    CommentPage,
    CommentRead,
    CommentUpdate,
    EventRead,
    TimelineComment,
    TimelineEvent,
    TimelineItem,
    TimelinePage,
)
from ticketcreator.tickets.service import refresh_search, visibility


async def list_comments(
    session: AsyncSession, principal: Principal, ticket: Ticket, cursor: str | None, limit: int
) -> CommentPage:
    rows = await repo.list_comments(
        session, ticket, visibility(principal), decode_position(cursor), limit + 1
    )
    next_cursor = (
        encode_position(rows[limit - 1].created_at, rows[limit - 1].id)
        if len(rows) > limit
        else None
    )
    return CommentPage(
        items=[CommentRead.model_validate(c) for c in rows[:limit]], next_cursor=next_cursor
    )


async def add_comment(
    session: AsyncSession, principal: Principal, ticket: Ticket, data: CommentCreate
) -> Comment:
    if data.internal and not principal.can(Permission.COMMENTS_INTERNAL):
        raise Forbidden(
            "Internal notes need `comments:internal`.",
            required_permission=Permission.COMMENTS_INTERNAL.value,
        )
    now = utcnow()
    comment = Comment(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        author_id=principal.user_id,
        author_api_key_id=principal.api_key_id,
        body=data.body,
        internal=data.internal,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    history.record(
        session, principal, ticket, "commented", "comment", None, comment.id, internal=data.internal
    )
    await _announce(session, principal, ticket, comment, Topic.TICKET_COMMENTED)
    return comment


async def _announce(
    session: AsyncSession, principal: Principal, ticket: Ticket, comment: Comment, topic: Topic
) -> None:
    """A comment was added, edited or deleted: a public one changes what search finds."""
    await session.flush()
    if not comment.internal:
        await refresh_search(session, ticket.id)
    history.publish(
        session, principal, ticket, topic, comment_id=str(comment.id), internal=comment.internal
    )


async def _own_comment(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    comment_id: uuid.UUID,
    moderate: bool,
) -> Comment:
    comment = await repo.get_comment(session, ticket, visibility(principal), comment_id)
    if comment is None:
        raise NotFound("No such comment on this ticket.")
    author = principal.is_author(comment.author_id, comment.author_api_key_id)
    if not author and not (moderate and principal.can(Permission.TICKETS_WRITE)):
        raise Forbidden("Only the author may change this comment.")
    return comment


async def edit_comment(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    comment_id: uuid.UUID,
    data: CommentUpdate,
) -> Comment:
    comment = await _own_comment(session, principal, ticket, comment_id, moderate=False)
    if comment.body == data.body:
        return comment
    old = comment.body
    comment.body = data.body
    comment.edited_at = comment.updated_at = utcnow()
    history.record(
        session,
        principal,
        ticket,
        "comment_edited",
        f"comment:{comment.id}",
        old,
        data.body,
        internal=comment.internal,
    )
    await _announce(session, principal, ticket, comment, Topic.TICKET_COMMENT_UPDATED)
    return comment


async def delete_comment(
    session: AsyncSession, principal: Principal, ticket: Ticket, comment_id: uuid.UUID
) -> None:
    """The author, or anyone who may edit tickets, deletes a comment (kept, but hidden).

    The timeline keeps that it was deleted, not what it said: the event carries no text, and
    the text of its earlier edits is removed from their events.
    """
    comment = await _own_comment(session, principal, ticket, comment_id, moderate=True)
    comment.deleted_at = utcnow()
    field = f"comment:{comment.id}"
    await repo.forget_event_values(session, ticket, field)
    history.record(
        session, principal, ticket, "comment_deleted", field, None, None, internal=comment.internal
    )
    await _announce(session, principal, ticket, comment, Topic.TICKET_COMMENT_DELETED)


async def timeline(
    session: AsyncSession, principal: Principal, ticket: Ticket, cursor: str | None, limit: int
) -> TimelinePage:
    rows = await repo.timeline(
        session, ticket, visibility(principal), decode_position(cursor), limit + 1
    )
    items: list[TimelineItem] = [
        TimelineComment(at=row.created_at, comment=CommentRead.model_validate(row))
        if isinstance(row, Comment)
        else TimelineEvent(at=row.created_at, event=EventRead.model_validate(row))
        for row in rows[:limit]
    ]
    next_cursor = (
        encode_position(rows[limit - 1].created_at, rows[limit - 1].id)
        if len(rows) > limit
        else None
    )
    return TimelinePage(items=items, next_cursor=next_cursor)
