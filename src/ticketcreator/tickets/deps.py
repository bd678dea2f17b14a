"""Route dependencies shared by the ticket route modules: the caller's permission, the ticket
of the path loaded once (and locked for a write), and the error groups.

A route declares the ticket it works on (``ticket: WritableTicket``); the dependency finds it
among those the caller may see and the route passes it on to the services, which never look
it up again. The permission and the ticket share one authorization per request (FastAPI runs
a dependency once per request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.deps import Session, TicketRef
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized
from ticketcreator.tickets import service
from ticketcreator.tickets.models import Ticket

_READ = Authorizer(Permission.TICKETS_READ)
_WRITE = Authorizer(Permission.TICKETS_WRITE)
_COMMENT = Authorizer(Permission.COMMENTS_WRITE)
_DELETE = Authorizer(Permission.TICKETS_DELETE)
_PURGE = Authorizer(Permission.TICKETS_PURGE)

CanRead = Annotated[Principal, Depends(_READ)]
CanWrite = Annotated[Principal, Depends(_WRITE)]
CanComment = Annotated[Principal, Depends(_COMMENT)]
CanDelete = Annotated[Principal, Depends(_DELETE)]
CanPurge = Annotated[Principal, Depends(_PURGE)]


def ticket_of_path(
    authorizer: Authorizer, *, lock: bool = False, deleted: bool | None = False
) -> Callable[..., Awaitable[Ticket]]:
    """A dependency giving the path's ticket once ``authorizer`` let the caller in: one the
    caller may see (404 otherwise), locked for the request's transaction when ``lock``;
    ``deleted`` as in :func:`ticketcreator.tickets.service.load`."""

    # ``authorizer`` is a default, not in the annotation: annotations are resolved from the
    # module's names, where this closure's variable is not.
    async def ticket(
        ticket_ref: TicketRef,
        session: Session,
        principal: Principal = Depends(authorizer),
    ) -> Ticket:
        return await service.load(session, principal, ticket_ref, lock=lock, deleted=deleted)

    return ticket


ReadableTicket = Annotated[Ticket, Depends(ticket_of_path(_READ))]
"""The path's ticket, for a caller with `tickets:read`."""
WritableTicket = Annotated[Ticket, Depends(ticket_of_path(_WRITE, lock=True))]
"""The path's ticket, locked, for a caller with `tickets:write`."""
AgentTicket = Annotated[Ticket, Depends(ticket_of_path(_WRITE))]
"""The path's ticket, not locked, for a caller with `tickets:write` who reads it or changes
what is tied to it (links, syncs), not its row."""
CommentableTicket = Annotated[Ticket, Depends(ticket_of_path(_COMMENT))]
"""The path's ticket, for a caller with `comments:write`."""
DeletableTicket = Annotated[Ticket, Depends(ticket_of_path(_DELETE, lock=True))]
"""The path's live ticket, locked, for a caller with `tickets:delete`."""
TrashedTicket = Annotated[Ticket, Depends(ticket_of_path(_DELETE, lock=True, deleted=True))]
"""The path's ticket in the trash, locked, for a caller with `tickets:delete`."""
PurgeableTicket = Annotated[Ticket, Depends(ticket_of_path(_PURGE, lock=True, deleted=None))]
"""The path's ticket, live or in the trash, locked, for a caller with `tickets:purge`."""

AUTH_ERRORS = (Unauthorized, Forbidden)
"""What every ticket route may answer about its caller."""
TICKET_ERRORS = (*AUTH_ERRORS, NotFound)
"""What every route under ``/tickets/{ticket_ref}`` may answer."""
