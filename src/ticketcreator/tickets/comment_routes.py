"""REST API of a ticket's conversation: its comments and its timeline."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import documented
from ticketcreator.core.pagination import InvalidCursor
from ticketcreator.tickets import comments
from ticketcreator.tickets.deps import (
    TICKET_ERRORS,
    CanComment,
    CanRead,
    CommentableTicket,
    ReadableTicket,
)
from ticketcreator.tickets.schemas import (
    CommentCreate,
    CommentPage,
    CommentRead,
    CommentUpdate,
    TimelinePage,
)

Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=100)]

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/{ticket_ref}/comments",
    tags=["comments"],
    response_model=CommentPage,
    responses=documented(*TICKET_ERRORS, InvalidCursor),
)
async def list_comments(
    ticket: ReadableTicket,
    session: Session,
    principal: CanRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CommentPage:
    """Comments, oldest first; internal notes only for callers with `comments:internal`."""
    return await comments.list_comments(session, principal, ticket, cursor, limit)


@router.post(
    "/{ticket_ref}/comments",
    tags=["comments"],
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    responses=documented(*TICKET_ERRORS),
)
async def add_comment(
    ticket: CommentableTicket,
    data: CommentCreate,
    session: Session,
    principal: CanComment,
) -> CommentRead:
    """Comment on a ticket; `internal: true` (a note for the team) needs `comments:internal`."""
    comment = await comments.add_comment(session, principal, ticket, data)
    return CommentRead.model_validate(comment)


@router.patch(
    "/{ticket_ref}/comments/{comment_id}",
    tags=["comments"],
    response_model=CommentRead,
    responses=documented(*TICKET_ERRORS),
)
async def edit_comment(
    ticket: CommentableTicket,
    comment_id: uuid.UUID,
    data: CommentUpdate,
    session: Session,
    principal: CanComment,
) -> CommentRead:
    """Edit your own comment (the previous text stays in the ticket's history)."""
    comment = await comments.edit_comment(session, principal, ticket, comment_id, data)
    return CommentRead.model_validate(comment)


@router.delete(
    "/{ticket_ref}/comments/{comment_id}",
    tags=["comments"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*TICKET_ERRORS),
)
async def delete_comment(
    ticket: CommentableTicket,
    comment_id: uuid.UUID,
    session: Session,
    principal: CanComment,
) -> None:
    """Delete your own comment; callers with `tickets:write` may delete any."""
    await comments.delete_comment(session, principal, ticket, comment_id)


@router.get(
    "/{ticket_ref}/timeline",
    tags=["tickets"],
    response_model=TimelinePage,
    responses=documented(*TICKET_ERRORS, InvalidCursor),
)
async def timeline(
    ticket: ReadableTicket,
    session: Session,
    principal: CanRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> TimelinePage:
    """Everything that happened to the ticket, oldest first: changes and comments merged."""
    return await comments.timeline(session, principal, ticket, cursor, limit)
