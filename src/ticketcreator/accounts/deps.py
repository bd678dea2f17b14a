"""Route dependencies and error groups shared by the accounts route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ticketcreator.accounts.audit import Origin
from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.deps import public
from ticketcreator.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from ticketcreator.core.ratelimit import limit_auth_ip

MemberManager = Annotated[Principal, Depends(Authorizer(Permission.MEMBERS_MANAGE))]


def _origin(request: Request) -> Origin:
    return Origin.of(request)


RequestOrigin = Annotated[Origin, Depends(_origin)]
"""Where the request came from, for the audit log."""

AUTH_ENDPOINT = [Depends(public), Depends(limit_auth_ip)]
"""Anonymous, but limited per client IP against brute force."""
AUTHENTICATED_ERRORS = (Unauthorized, Forbidden, TooManyRequests)
"""What a route that requires a permission may answer about its caller."""
AUTH_LIMITED_ERRORS = (TooManyRequests, ServiceUnavailable)
"""What an :data:`AUTH_ENDPOINT` may answer from its limits."""
