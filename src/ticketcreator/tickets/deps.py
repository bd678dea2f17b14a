"""Permission dependencies and error groups shared by the ticket route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized

CanRead = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_READ))]
CanWrite = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_WRITE))]

AUTH_ERRORS = (Unauthorized, Forbidden)
"""What every ticket route may answer about its caller."""
TICKET_ERRORS = (*AUTH_ERRORS, NotFound)
"""What every route under ``/tickets/{ticket_ref}`` may answer."""
