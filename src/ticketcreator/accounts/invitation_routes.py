"""HTTP routes of invitations: members invite by e-mail, the invitee accepts (with a new
account or their own), and the page the invitation e-mail links to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from ticketcreator.accounts import flows
from ticketcreator.accounts import invitations as invitation_service
from ticketcreator.accounts.auth import bearer_scheme, principal_from_jwt
from ticketcreator.accounts.deps import (
    AUTH_ENDPOINT,
    AUTH_LIMITED_ERRORS,
    AUTHENTICATED_ERRORS,
    MemberManager,
    RequestOrigin,
)
from ticketcreator.accounts.errors import (
    AlreadyMember,
    EmailTaken,
    InvitationExpired,
    InvitationUsed,
    RoleNotAllowed,
)
from ticketcreator.accounts.models import Invitation
from ticketcreator.accounts.pages import accept_invitation_page
from ticketcreator.accounts.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    TokenPair,
)
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import (
    Forbidden,
    NotFound,
    Unauthorized,
    UnprocessableEntity,
    documented,
)

OptionalBearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

router = APIRouter(prefix="/invitations", tags=["invitations"], route_class=UnitOfWorkRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by e-mail; the response holds the invitation token, once",
    description="When mail is enabled (`mail.enabled`), the invitee is e-mailed the accept "
    "link in the background; otherwise deliver the returned `token` yourself. It works once, "
    "until `expires_at`. A new invitation to the same address replaces a pending one.",
    responses=documented(*AUTHENTICATED_ERRORS, RoleNotAllowed, AlreadyMember),
)
async def invite(
    body: InvitationCreate, principal: MemberManager, session: Session, origin: RequestOrigin
) -> InvitationCreated:
    return await invitation_service.invite(session, principal, body, origin)


@router.get(
    "",
    summary="Invitations of your organization, with their status",
    responses=documented(*AUTHENTICATED_ERRORS),
)
async def list_invitations(principal: MemberManager, session: Session) -> list[InvitationOut]:
    found: Sequence[Invitation] = await invitation_service.list_invitations(session, principal)
    return [InvitationOut.model_validate(invitation) for invitation in found]


@router.delete(
    "/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw an invitation",
    responses=documented(*AUTHENTICATED_ERRORS, NotFound, InvitationUsed),
)
async def revoke_invitation(
    invitation_id: uuid.UUID, principal: MemberManager, session: Session, origin: RequestOrigin
) -> None:
    await invitation_service.revoke_invitation(session, principal, invitation_id, origin)


@router.get(
    "/accept",
    dependencies=[Depends(public)],
    response_class=HTMLResponse,
    summary="The page an invitation e-mail links to (HTML); opening it accepts nothing",
    description="A form for the invitee: a new account (name and password) or, for someone "
    "who already has an account, a sign-in. Submitting it POSTs the `token` from the link to "
    "this path. The page keeps the token out of its HTML and removes it from the address bar.",
    responses={200: {"content": {"text/html": {}}, "description": "The page."}},
)
async def invitation_page(
    token: Annotated[str | None, Query(max_length=512, description="From the e-mail.")] = None,
) -> HTMLResponse:
    html, headers = accept_invitation_page()
    return HTMLResponse(html, headers=headers)


@router.post(
    "/accept",
    dependencies=AUTH_ENDPOINT,
    summary="Accept an invitation and get a session in the inviting organization",
    description="Anonymous callers create their account with `name` and `password`. A person "
    "who already has an account sends their access token (`Authorization: Bearer`) instead; "
    "the invitation must be addressed to their e-mail. Expired invitations answer 410.",
    responses=documented(
        Unauthorized,
        Forbidden,
        NotFound,
        AlreadyMember,
        EmailTaken,
        InvitationUsed,
        InvitationExpired,
        UnprocessableEntity,
        *AUTH_LIMITED_ERRORS,
    ),
)
async def accept_invitation(
    body: InvitationAccept, bearer: OptionalBearer, session: Session, origin: RequestOrigin
) -> TokenPair:
    caller = await principal_from_jwt(session, bearer.credentials) if bearer else None
    return await flows.accept_invitation(session, body, caller, origin)
