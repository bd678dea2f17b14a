"""REST API of tickets: /v1/tickets and everything under it.

A ticket is addressed by its id, by ``T-<number>`` or by the bare number. Its comments and
timeline (:mod:`.comment_routes`), watchers and vendor links (:mod:`.relation_routes`) have
their own modules, included here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import HeaderValue, QueryModel, Session, TicketRef
from ticketcreator.core.errors import documented
from ticketcreator.core.pagination import InvalidCursor
from ticketcreator.core.responses import json_response
from ticketcreator.routing import sla
from ticketcreator.taxonomy.errors import InvalidCustomFields
from ticketcreator.taxonomy.schemas import TagName
from ticketcreator.tickets import bulk, comment_routes, flows, listing, relation_routes, service
from ticketcreator.tickets.deps import (
    AUTH_ERRORS,
    TICKET_ERRORS,
    CanDelete,
    CanPurge,
    CanRead,
    CanWrite,
    DeletableTicket,
    PurgeableTicket,
    TrashedTicket,
    WritableTicket,
)
from ticketcreator.tickets.errors import (
    BulkUpdateFailed,
    IdempotencyKeyReused,
    InvalidAssignee,
    InvalidQuery,
    InvalidReference,
    InvalidTransition,
    StaleVersion,
)
from ticketcreator.tickets.schemas import (
    AssigneeSet,
    BulkResult,
    BulkUpdate,
    TagsAdd,
    TicketCreate,
    TicketListQuery,
    TicketPage,
    TicketRead,
    TicketUpdate,
)

_IF_MATCH = HeaderValue(
    "If-Match",
    "The `ETag` you read; the write is refused (412) if the ticket changed since.",
)
IfMatch = Annotated[str | None, Depends(_IF_MATCH)]
_IF_NONE_MATCH = HeaderValue("If-None-Match")
_IDEMPOTENCY_KEY = HeaderValue(
    "Idempotency-Key",
    "Makes retries safe: a repeat gets the first response, never a "
    "second ticket (remembered for `idempotency_ttl_h` hours).",
    min_length=1,
    max_length=255,
)
CanCreate = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_CREATE))]
_WRITE = (*TICKET_ERRORS, StaleVersion)

router = APIRouter(prefix="/tickets", route_class=UnitOfWorkRoute)


def _tagged(response: Response, ticket: TicketRead, status_code: int = 200) -> Response:
    """The ticket, as its model writes it, with its ``ETag``."""
    response.headers["ETag"] = service.etag(ticket)
    return json_response(ticket.model_dump_json().encode(), response, status_code)


@router.post(
    "",
    tags=["tickets"],
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses=documented(
        *AUTH_ERRORS, InvalidReference, InvalidAssignee, InvalidCustomFields, IdempotencyKeyReused
    ),
    openapi_extra=_IDEMPOTENCY_KEY.openapi(),
)
async def create_ticket(
    data: TicketCreate,
    response: Response,
    session: Session,
    principal: CanCreate,
    idempotency_key: Annotated[str | None, Depends(_IDEMPOTENCY_KEY)],
) -> Response:
    """Create a ticket; it gets the organization's next number (`T-<n>`) and status `open`."""
    ticket, replayed = await service.create_ticket(session, principal, data, idempotency_key)
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _tagged(response, ticket, status.HTTP_201_CREATED)


_LIST_QUERY = QueryModel(TicketListQuery)


@router.get(
    "",
    tags=["tickets"],
    response_model=TicketPage,
    responses=documented(*AUTH_ERRORS, InvalidCursor, InvalidQuery),
    openapi_extra=_LIST_QUERY.openapi(),
)
async def list_tickets(
    response: Response,
    principal: CanRead,
    query: Annotated[TicketListQuery, Depends(_LIST_QUERY)],
) -> Response:
    """Tickets matching every given filter, in a stable order, one page at a time.

    Pass the response's `next_cursor` as `cursor` (with the same filters and sort) for the
    next page. Reporters see only the tickets they reported.
    """
    within = sla.tickets_in_state(query.sla) if query.sla else None
    return json_response(await listing.list_tickets(principal, query, within), response)


@router.post(
    "/bulk",
    tags=["tickets"],
    response_model=BulkResult,
    responses=documented(*AUTH_ERRORS, BulkUpdateFailed),
)
async def bulk_update(data: BulkUpdate, session: Session, principal: CanWrite) -> BulkResult:
    """Apply the same changes to up to `bulk_max` tickets in one transaction: all or nothing.

    If any ticket cannot be changed, nothing is applied and the 422 problem lists each
    failing ticket in `errors` (with its own status, type and detail).
    """
    tickets = await bulk.update(session, principal, data)
    return BulkResult(items=[TicketRead.model_validate(ticket) for ticket in tickets])


@router.get(
    "/{ticket_ref}",
    tags=["tickets"],
    response_model=TicketRead,
    responses={
        **documented(*TICKET_ERRORS),
        304: {"description": "Not modified (`If-None-Match`)"},
    },
    openapi_extra=_IF_NONE_MATCH.openapi(),
)
async def get_ticket(
    ticket_ref: TicketRef,
    response: Response,
    principal: CanRead,
    if_none_match: Annotated[str | None, Depends(_IF_NONE_MATCH)],
) -> Response:
    """One ticket, with its `ETag` (send it back in `If-Match` when you change the ticket)."""
    ticket = await service.read(principal, ticket_ref)
    if if_none_match is not None and service.etag(ticket) in if_none_match.split(","):
        return Response(
            status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": service.etag(ticket)}
        )
    return _tagged(response, ticket)


@router.patch(
    "/{ticket_ref}",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(
        *_WRITE, InvalidTransition, InvalidReference, InvalidAssignee, InvalidCustomFields
    ),
    openapi_extra=_IF_MATCH.openapi(),
)
async def update_ticket(
    ticket_ref: TicketRef,
    data: TicketUpdate,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch,
) -> Response:
    """Change the fields sent. A status change must follow the workflow (409 names the
    allowed next statuses): open → in_progress → waiting → resolved → closed; `open` reopens.
    """
    return _tagged(response, await service.change(session, principal, ticket_ref, data, if_match))


@router.delete(
    "/{ticket_ref}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_WRITE),
    openapi_extra=_IF_MATCH.openapi(),
)
async def delete_ticket(
    ticket: DeletableTicket,
    session: Session,
    principal: CanDelete,
    if_match: IfMatch,
) -> None:
    """Move the ticket to the trash (restorable)."""
    await service.soft_delete(session, principal, ticket, if_match)


@router.post(
    "/{ticket_ref}/restore",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*TICKET_ERRORS),
)
async def restore_ticket(
    ticket: TrashedTicket,
    response: Response,
    session: Session,
    principal: CanDelete,
) -> Response:
    """Bring a ticket back from the trash."""
    await service.restore(session, principal, ticket)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/permanent",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*TICKET_ERRORS),
)
async def purge_ticket(ticket: PurgeableTicket, session: Session, principal: CanPurge) -> None:
    """Delete a ticket (live or in the trash) for good, with its comments, history, captures,
    their files (unless another ticket's capture uses them), transcripts and screenshot text,
    and AI results; its events keep only ids."""
    await flows.purge_ticket(session, principal, ticket)


@router.put(
    "/{ticket_ref}/assignee",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE, InvalidAssignee),
    openapi_extra=_IF_MATCH.openapi(),
)
async def assign_ticket(
    ticket: WritableTicket,
    data: AssigneeSet,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch,
) -> Response:
    """Assign to an owner, admin or agent of the organization (422 for anyone else)."""
    await service.assign(session, principal, ticket, data.assignee_id, if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/assignee",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
    openapi_extra=_IF_MATCH.openapi(),
)
async def unassign_ticket(
    ticket: WritableTicket,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch,
) -> Response:
    await service.assign(session, principal, ticket, None, if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.post(
    "/{ticket_ref}/tags",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
    openapi_extra=_IF_MATCH.openapi(),
)
async def add_tags(
    ticket: WritableTicket,
    data: TagsAdd,
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch,
) -> Response:
    """Add tags (created in the organization when new); tags already present are kept."""
    await service.change_tags(session, principal, ticket, add=data.tags, if_match=if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


@router.delete(
    "/{ticket_ref}/tags/{tag_name}",
    tags=["tickets"],
    response_model=TicketRead,
    responses=documented(*_WRITE),
    openapi_extra=_IF_MATCH.openapi(),
)
async def remove_tag(
    ticket: WritableTicket,
    tag_name: Annotated[TagName, Path()],
    response: Response,
    session: Session,
    principal: CanWrite,
    if_match: IfMatch,
) -> Response:
    """Remove a tag from the ticket (nothing changes if it did not carry it)."""
    await service.change_tags(session, principal, ticket, remove=[tag_name], if_match=if_match)
    return _tagged(response, TicketRead.model_validate(ticket))


router.include_router(comment_routes.router)
router.include_router(relation_routes.router)
