"""REST API of tickets: /v1/tickets and everything under it.

A ticket is addressed by its id, by ``T-<number>`` or by the bare number.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute, get_session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized
from ticketcreator.taxonomy.schemas import TagName
from ticketcreator.tickets import purge, service
from ticketcreator.tickets.errors import (
    BulkUpdateFailed,
    IdempotencyKeyReused,
    InvalidAssignee,
    InvalidCursor,
    InvalidCustomFields,
    InvalidQuery,
    InvalidReference,
    InvalidTransition,
    InvalidWatcher,
    LinkExists,
    StaleVersion,
    documented,
)
from ticketcreator.tickets.schemas import (
    AssigneeSet,
    BulkResult,
    BulkUpdate,
    CommentCreate,
    CommentPage,
    CommentRead,
    CommentUpdate,
    LinkCreate,
    LinkRead,
    TagsAdd,
    TicketCreate,
    TicketListQuery,
    TicketPage,
    TicketRead,
    TicketUpdate,
    TimelinePage,
    WatcherRead,
)

Session = Annotated[AsyncSession, Depends(get_session)]
Ref = Annotated[str, Path(max_length=40, description="Ticket id, `T-<number>` or `<number>`.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The `ETag` you read; the write is refused (412) if the ticket changed since.",
    ),
]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=100)]
CanRead = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_READ))]
CanCreate = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_CREATE))]
CanWrite = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_WRITE))]
CanDelete = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_DELETE))]
CanPurge = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_PURGE))]
CanComment = Annotated[Principal, Depends(Authorizer(Permission.COMMENTS_WRITE))]
_AUTH = (Unauthorized, Forbidden)
_TICKET = (*_AUTH, NotFound)
_WRITE = (*_TICKET, StaleVersion)

router = APIRouter(prefix="/tickets", route_class=UnitOfWorkRoute)


def _tagged(response: Response, ticket: TicketRead) -> TicketRead:
    response.headers["ETag"] = f'"{ticket.version}"'
    return ticket


@router.post(
    "",
    tags=["tickets"],
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses=documented(
        *_AUTH, InvalidReference, InvalidAssignee, InvalidCustomFields, IdempotencyKeyReused
    ),
)
async def create_ticket(
    data: TicketCreate,
    response: Response,
    session: Session,
    principal: CanCreate,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Makes retries safe: a repeat gets the first response, never a "
            "second ticket (remembered for `idempotency_ttl_h` hours).",
        ),
    ] = None,
) -> TicketRead:
    """Create a ticket; it gets the organization's next number (`T-<n>`) and status `open`."""
    ticket, replayed = await service.create_ticket(session, principal, data, idempotency_key)
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _tagged(response, ticket)


@router.get(
    "",
    tags=["tickets"],
    response_model=TicketPage,
    responses=documented(*_AUTH, InvalidCursor, InvalidQuery),
)
async def list_tickets(
    query: Annotated[TicketListQuery, Query()],
    session: Session,
    principal: CanRead,
) -> TicketPage:
    """Tickets matching every given filter, in a stable order, one page at a time.

    Pass the response's `next_cursor` as `cursor` (with the same filters and sort) for the
    next page. Reporters see only the tickets they reported.
    """
    return await service.list_tickets(session, principal, query)


@router.post(
    "/bulk",
    tags=["tickets"],
    response_model=BulkResult,
    responses=documented(*_AUTH, BulkUpdateFailed),
)
async def bulk_update(data: BulkUpdate, session: Session, principal: CanWrite) -> BulkResult:
    """Apply the same changes to up to `bulk_max` tickets in one transaction: all or nothing.

    If any ticket cannot be changed, nothing is applied and the 422 problem lists each
    failing ticket in `errors` (with its own status, type and detail).
    """
    tickets = await service.bulk_update(session, principal, data)
    return BulkResult(items=[TicketRead.model_validate(ticket) for ticket in tickets])


@router.get(
    "/{ticket_ref}",
    tags=["tickets"],
    response_model=TicketRead,
    responses={**documented(*_TICKET), 304: {"description": "Not modified (`If-None-Match`)"}},
)
async def get_ticket(
    ticket_ref: Ref,
    response: Response,
    session: Session,
    principal: CanRead,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> TicketRead | Response:
    """One ticket, with its `ETag` (send it back in `If-Match` when you change the ticket)."""
    ticket = await service.get_ticket(session, principal, ticket_ref)
    if if_none_match is not None and service.etag(ticket) in if_none_match.split(","):
        return Response(
            status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": service.etag(ticket)}
        )
    return _tagged(response, TicketRead.model_validate(ticket))


@router.patch(
    "/{ticket_ref}",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(
        *_WRITE, InvalidTransition, InvalidReference, InvalidAssignee, InvalidCustomFields
    ),
)
async def update_ticket(
    ticket_ref: Ref,
    data: TicketUpdate,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch = None,
) -> TicketRead:
    """Change the fields sent. A status change must follow the workflow (409 names the
    allowed next statuses): open → in_progress → waiting → resolved → closed; `open` reopens.
    """
    ticket = await service.update_ticket(session, principal, ticket_ref, data, if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_WRITE),
)
async def delete_ticket(
    ticket_ref: Ref,
    session: Session,
    principal: CanDelete,
    if_match: IfMatch = None,
) -> None:
    """Move the ticket to the trash (restorable)."""
    await service.soft_delete(session, principal, ticket_ref, if_match)


@router.post(
    "/{ticket_ref}/restore",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_TICKET),
)
async def restore_ticket(
    ticket_ref: Ref,
    response: Response,
    session: Session,
    principal: CanDelete,
) -> TicketRead:
    """Bring a ticket back from the trash."""
    ticket = await service.restore(session, principal, ticket_ref)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/permanent",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_TICKET),
)
async def purge_ticket(ticket_ref: Ref, session: Session, principal: CanPurge) -> None:
    """Delete a ticket (live or in the trash) for good, with its comments, history, captures,
    their files (unless another ticket's capture uses them), transcripts and screenshot text,
    and AI results; its events keep only ids."""
    await purge.purge_ticket(session, principal, ticket_ref)


@router.put(
    "/{ticket_ref}/assignee",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE, InvalidAssignee),
)
async def assign_ticket(
    ticket_ref: Ref,
    data: AssigneeSet,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch = None,
) -> TicketRead:
    """Assign to an owner, admin or agent of the organization (422 for anyone else)."""
    ticket = await service.assign(session, principal, ticket_ref, data.assignee_id, if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/assignee",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
)
async def unassign_ticket(
    ticket_ref: Ref,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch = None,
) -> TicketRead:
    ticket = await service.assign(session, principal, ticket_ref, None, if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.post(
    "/{ticket_ref}/tags",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
)
async def add_tags(
    ticket_ref: Ref,
    data: TagsAdd,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch = None,
) -> TicketRead:
    """Add tags (created in the organization when new); tags already present are kept."""
    ticket = await service.change_tags(
        session, principal, ticket_ref, add=data.tags, if_match=if_match
    )
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/tags/{tag_name}",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
)
async def remove_tag(
    ticket_ref: Ref,
    tag_name: Annotated[TagName, Path()],
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch = None,
) -> TicketRead:
    """Remove a tag from the ticket (nothing changes if it did not carry it)."""
    ticket = await service.change_tags(
        session, principal, ticket_ref, remove=[tag_name], if_match=if_match
    )
    return _tagged(response, TicketRead.model_validate(ticket))


@router.get(
    "/{ticket_ref}/comments",
    tags=["comments"],
    response_model=CommentPage,
    responses=documented(*_TICKET, InvalidCursor),
)
async def list_comments(
    ticket_ref: Ref,
    session: Session,
    principal: CanRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CommentPage:
    """Comments, oldest first; internal notes only for callers with `comments:internal`."""
    return await service.list_comments(session, principal, ticket_ref, cursor, limit)


@router.post(
    "/{ticket_ref}/comments",
    tags=["comments"],
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    responses=documented(*_TICKET),
)
async def add_comment(
    ticket_ref: Ref,
    data: CommentCreate,
    session: Session,
    principal: CanComment,
) -> CommentRead:
    """Comment on a ticket; `internal: true` (a note for the team) needs `comments:internal`."""
    comment = await service.add_comment(session, principal, ticket_ref, data)
    return CommentRead.model_validate(comment)


@router.patch(
    "/{ticket_ref}/comments/{comment_id}",
    tags=["comments"],
    response_model=CommentRead,
    responses=documented(*_TICKET),
)
async def edit_comment(
    ticket_ref: Ref,
    comment_id: uuid.UUID,
    data: CommentUpdate,
    session: Session,
    principal: CanComment,
) -> CommentRead:
    """Edit your own comment (the previous text stays in the ticket's history)."""
    comment = await service.edit_comment(session, principal, ticket_ref, comment_id, data)
    return CommentRead.model_validate(comment)


@router.delete(
    "/{ticket_ref}/comments/{comment_id}",
    tags=["comments"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_TICKET),
)
async def delete_comment(
    ticket_ref: Ref,
    comment_id: uuid.UUID,
    session: Session,
    principal: CanComment,
) -> None:
    """Delete your own comment; callers with `tickets:write` may delete any."""
    await service.delete_comment(session, principal, ticket_ref, comment_id)


@router.get(
    "/{ticket_ref}/timeline",
    tags=["tickets"],
    response_model=TimelinePage,
    responses=documented(*_TICKET, InvalidCursor),
)
async def timeline(
    ticket_ref: Ref,
    session: Session,
    principal: CanRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> TimelinePage:
    """Everything that happened to the ticket, oldest first: changes and comments merged."""
    return await service.timeline(session, principal, ticket_ref, cursor, limit)


@router.get(
    "/{ticket_ref}/watchers",
    tags=["tickets"],
    response_model=list[WatcherRead],
    responses=documented(*_TICKET),
)
async def list_watchers(ticket_ref: Ref, session: Session, principal: CanRead) -> list[WatcherRead]:
    rows = await service.list_watchers(session, principal, ticket_ref)
    return [WatcherRead.model_validate(row) for row in rows]


@router.put(
    "/{ticket_ref}/watchers/{user_id}",
    tags=["tickets"],
    response_model=list[WatcherRead],
    responses=documented(*_TICKET, InvalidWatcher),
)
async def add_watcher(
    ticket_ref: Ref,
    user_id: uuid.UUID,
    session: Session,
    principal: CanRead,
) -> list[WatcherRead]:
    """Add a watcher (agents: anyone who can see the ticket; reporters: themselves)."""
    rows = await service.add_watcher(session, principal, ticket_ref, user_id)
    return [WatcherRead.model_validate(row) for row in rows]


@router.delete(
    "/{ticket_ref}/watchers/{user_id}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_TICKET),
)
async def remove_watcher(
    ticket_ref: Ref,
    user_id: uuid.UUID,
    session: Session,
    principal: CanRead,
) -> None:
    await service.remove_watcher(session, principal, ticket_ref, user_id)


@router.get(
    "/{ticket_ref}/links",
    tags=["tickets"],
    response_model=list[LinkRead],
    responses=documented(*_TICKET),
)
async def list_links(ticket_ref: Ref, session: Session, principal: CanRead) -> list[LinkRead]:
    """The ticket's counterparts in vendor systems (Jira, GitHub, Zendesk, ...)."""
    rows = await service.list_links(session, principal, ticket_ref)
    return [LinkRead.model_validate(row) for row in rows]


@router.post(
    "/{ticket_ref}/links",
    tags=["tickets"],
    status_code=status.HTTP_201_CREATED,
    response_model=LinkRead,
    responses=documented(*_TICKET, LinkExists),
)
async def add_link(
    ticket_ref: Ref,
    data: LinkCreate,
    session: Session,
    principal: CanWrite,
) -> LinkRead:
    """Link a vendor issue; one vendor issue belongs to at most one ticket."""
    return LinkRead.model_validate(await service.add_link(session, principal, ticket_ref, data))


@router.delete(
    "/{ticket_ref}/links/{link_id}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_TICKET),
)
async def remove_link(
    ticket_ref: Ref,
    link_id: uuid.UUID,
    session: Session,
    principal: CanWrite,
) -> None:
    await service.remove_link(session, principal, ticket_ref, link_id)
