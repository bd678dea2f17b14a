"""HTTP routes of the accounts domain: authentication, the caller's account, members,
invitations, API keys and the audit log. Each route declares who may call it and hands the
work to the accounts services (sessions, users, members, ...) and flows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from ticketcreator.accounts import api_keys as api_key_service
from ticketcreator.accounts import audit, flows, organizations, sessions, users
from ticketcreator.accounts import invitations as invitation_service
from ticketcreator.accounts import members as member_service
from ticketcreator.accounts.audit import AuditAction, Origin
from ticketcreator.accounts.auth import (
    Authorizer,
    Principal,
    bearer_scheme,
    principal_from_jwt,
    public,
)
from ticketcreator.accounts.errors import (
    AlreadyMember,
    EmailTaken,
    InvalidCredentials,
    InvalidCursor,
    InvalidRefreshToken,
    InvitationExpired,
    InvitationUsed,
    LastOwner,
    NoOrganization,
    NotAPerson,
    RefreshTokenReused,
    RoleNotAllowed,
    SlugTaken,
    WrongPassword,
)
from ticketcreator.accounts.models import ApiKey, Invitation
from ticketcreator.accounts.pages import accept_invitation_page
from ticketcreator.accounts.permissions import Permission
from ticketcreator.accounts.repository import AuditFilter
from ticketcreator.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditPage,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    LoginRequest,
    Me,
    MemberOut,
    MemberUpdate,
    MyOrganization,
    OrganizationSettings,
    OrganizationSettingsPatch,
    PasswordChange,
    RefreshRequest,
    SignupRequest,
    TokenPair,
)
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import (
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    documented,
)
from ticketcreator.core.ratelimit import limit_auth_ip

Person = Annotated[Principal, Depends(Authorizer(Permission.ACCOUNT_SELF))]
MemberReader = Annotated[Principal, Depends(Authorizer(Permission.MEMBERS_READ))]
MemberManager = Annotated[Principal, Depends(Authorizer(Permission.MEMBERS_MANAGE))]
KeyManager = Annotated[Principal, Depends(Authorizer(Permission.API_KEYS_MANAGE))]
AuditReader = Annotated[Principal, Depends(Authorizer(Permission.AUDIT_READ))]
OptionalBearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _origin(request: Request) -> Origin:
    return Origin.of(request)


RequestOrigin = Annotated[Origin, Depends(_origin)]

# Anonymous, but limited per client IP against brute force.
_AUTH_ENDPOINT = [Depends(public), Depends(limit_auth_ip)]
_AUTHENTICATED = (Unauthorized, Forbidden, TooManyRequests)
_AUTH_LIMITED = (TooManyRequests, ServiceUnavailable)

auth = APIRouter(prefix="/auth", tags=["auth"], route_class=UnitOfWorkRoute)
account = APIRouter(prefix="/me", tags=["account"], route_class=UnitOfWorkRoute)
members = APIRouter(prefix="/members", tags=["members"], route_class=UnitOfWorkRoute)
invitations = APIRouter(prefix="/invitations", tags=["invitations"], route_class=UnitOfWorkRoute)
api_keys = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=UnitOfWorkRoute)
audit_log = APIRouter(prefix="/audit-log", tags=["audit"], route_class=UnitOfWorkRoute)
organization = APIRouter(prefix="/organization", tags=["organization"], route_class=UnitOfWorkRoute)


@auth.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    dependencies=_AUTH_ENDPOINT,
    summary="Create an organization and its owner, and log the owner in",
    responses=documented(EmailTaken, SlugTaken, *_AUTH_LIMITED),
)
async def signup(body: SignupRequest, session: Session, origin: RequestOrigin) -> TokenPair:
    return await flows.signup(session, body, origin)


@auth.post(
    "/login",
    dependencies=_AUTH_ENDPOINT,
    summary="Exchange e-mail and password for an access and a refresh token",
    description="Members of several organizations may name one (by id or slug); otherwise "
    "the session opens in the organization they joined first. Failed logins are limited per "
    "account and per IP.",
    responses=documented(InvalidCredentials, NotFound, NoOrganization, *_AUTH_LIMITED),
)
async def login(body: LoginRequest, session: Session, origin: RequestOrigin) -> TokenPair:
    return await sessions.login(session, body, origin)


@auth.post(
    "/refresh",
    dependencies=[Depends(public)],
    summary="Rotate a refresh token: spend it for a new token pair",
    description="Each refresh token works once. Presenting a spent one revokes the whole "
    "session (every token issued from the same login) and is recorded in the audit log. "
    "Refreshes are limited per session (`rate_limits.refreshes_per_session`); tokens that "
    "match no session are limited per client address.",
    responses=documented(InvalidRefreshToken, RefreshTokenReused, *_AUTH_LIMITED),
)
async def refresh(body: RefreshRequest, session: Session, origin: RequestOrigin) -> TokenPair:
    return await sessions.refresh(session, body.refresh_token, origin)


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the current session (its access and refresh tokens stop working)",
    responses=documented(*_AUTHENTICATED, NotAPerson),
)
async def logout(principal: Person, session: Session, origin: RequestOrigin) -> None:
    await sessions.logout(session, principal, origin)


@auth.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password; your other sessions are ended",
    responses=documented(*_AUTHENTICATED, NotAPerson, WrongPassword, NotFound, ServiceUnavailable),
)
async def change_password(
    body: PasswordChange, principal: Person, session: Session, origin: RequestOrigin
) -> None:
    await users.change_password(session, principal, body, origin)


@account.get(
    "",
    summary="Who you are, in which organization, allowed to do what",
    responses=documented(*_AUTHENTICATED, NotAPerson, NotFound),
)
async def me(principal: Person, session: Session) -> Me:
    return await users.me(session, principal)


@account.get(
    "/organizations",
    summary="The organizations you belong to, with your role",
    responses=documented(*_AUTHENTICATED, NotAPerson),
)
async def my_organizations(principal: Person, session: Session) -> list[MyOrganization]:
    return await users.my_organizations(session, principal)


@account.post(
    "/organizations/{organization_id}/switch",
    summary="Get a token pair for another of your organizations",
    responses=documented(*_AUTHENTICATED, NotAPerson, NotFound),
)
async def switch_organization(
    organization_id: uuid.UUID, principal: Person, session: Session, origin: RequestOrigin
) -> TokenPair:
    return await sessions.switch_organization(session, principal, organization_id, origin)


@members.get("", summary="Members of your organization", responses=documented(*_AUTHENTICATED))
async def list_members(principal: MemberReader, session: Session) -> list[MemberOut]:
    return await member_service.list_members(session, principal)


@members.patch(
    "/{user_id}",
    summary="Change a member's role",
    description="You may grant roles up to your own and act on members up to your rank: only "
    "owners manage owners. The last owner cannot be demoted. Demoting a member also lowers the "
    "role of the API keys they created.",
    responses=documented(*_AUTHENTICATED, RoleNotAllowed, NotFound, LastOwner),
)
async def change_member_role(
    user_id: uuid.UUID,
    body: MemberUpdate,
    principal: MemberManager,
    session: Session,
    origin: RequestOrigin,
) -> MemberOut:
    return await member_service.change_member_role(session, principal, user_id, body, origin)


@members.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (their sessions and API keys here are revoked)",
    responses=documented(*_AUTHENTICATED, RoleNotAllowed, NotFound, LastOwner),
)
async def remove_member(
    user_id: uuid.UUID, principal: MemberManager, session: Session, origin: RequestOrigin
) -> None:
    await member_service.remove_member(session, principal, user_id, origin)


@organization.get(
    "/settings",
    summary="Your organization's settings (who sees members' e-mail addresses)",
    responses=documented(*_AUTHENTICATED),
)
async def get_organization_settings(
    principal: MemberManager, session: Session
) -> OrganizationSettings:
    return await organizations.organization_settings(session, principal)


@organization.patch(
    "/settings",
    summary="Change your organization's settings (audited)",
    description="`member_emails_visible_to_all: true` shows every member's e-mail address to "
    "reporters and viewers too; by default only owners, admins and agents "
    "(`members:emails`) see them. Fields left out stay as they are.",
    responses=documented(*_AUTHENTICATED, UnprocessableEntity),
)
async def change_organization_settings(
    body: OrganizationSettingsPatch,
    principal: MemberManager,
    session: Session,
    origin: RequestOrigin,
) -> OrganizationSettings:
    return await organizations.change_organization_settings(session, principal, body, origin)


@invitations.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by e-mail; the response holds the invitation token, once",
    description="When mail is enabled (`mail.enabled`), the invitee is e-mailed the accept "
    "link in the background; otherwise deliver the returned `token` yourself. It works once, "
    "until `expires_at`. A new invitation to the same address replaces a pending one.",
    responses=documented(*_AUTHENTICATED, RoleNotAllowed, AlreadyMember),
)
async def invite(
    body: InvitationCreate, principal: MemberManager, session: Session, origin: RequestOrigin
) -> InvitationCreated:
    return await invitation_service.invite(session, principal, body, origin)


@invitations.get(
    "",
    summary="Invitations of your organization, with their status",
    responses=documented(*_AUTHENTICATED),
)
async def list_invitations(principal: MemberManager, session: Session) -> list[InvitationOut]:
    found: Sequence[Invitation] = await invitation_service.list_invitations(session, principal)
    return [InvitationOut.model_validate(invitation) for invitation in found]


@invitations.delete(
    "/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw an invitation",
    responses=documented(*_AUTHENTICATED, NotFound, InvitationUsed),
)
async def revoke_invitation(
    invitation_id: uuid.UUID, principal: MemberManager, session: Session, origin: RequestOrigin
) -> None:
    await invitation_service.revoke_invitation(session, principal, invitation_id, origin)


@invitations.get(
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


@invitations.post(
    "/accept",
    dependencies=_AUTH_ENDPOINT,
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
        *_AUTH_LIMITED,
    ),
)
async def accept_invitation(
    body: InvitationAccept, bearer: OptionalBearer, session: Session, origin: RequestOrigin
) -> TokenPair:
    caller = await principal_from_jwt(session, bearer.credentials) if bearer else None
    return await flows.accept_invitation(session, body, caller, origin)


@api_keys.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; the response holds the key, once",
    description="Scopes come from the API-key subset of permissions; the key acts with at "
    "most your role, and only where role and scopes both allow. Send it as "
    "`Authorization: ApiKey <key>` or `X-API-Key: <key>`.",
    responses=documented(*_AUTHENTICATED, RoleNotAllowed),
)
async def create_api_key(
    body: ApiKeyCreate, principal: KeyManager, session: Session, origin: RequestOrigin
) -> ApiKeyCreated:
    return await api_key_service.create_api_key(session, principal, body, origin)


@api_keys.get(
    "",
    summary="API keys of your organization (never the keys themselves)",
    responses=documented(*_AUTHENTICATED),
)
async def list_api_keys(principal: KeyManager, session: Session) -> list[ApiKeyOut]:
    found: Sequence[ApiKey] = await api_key_service.list_api_keys(session, principal)
    return [ApiKeyOut.model_validate(record) for record in found]


@api_keys.delete(
    "/{api_key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key (takes effect on its next request)",
    responses=documented(*_AUTHENTICATED, NotFound),
)
async def revoke_api_key(
    api_key_id: uuid.UUID, principal: KeyManager, session: Session, origin: RequestOrigin
) -> None:
    await api_key_service.revoke_api_key(session, principal, api_key_id, origin)


@audit_log.get(
    "",
    summary="The audit log of your organization, newest first",
    description="Filter by action, actor and time range (`since` inclusive, `until` "
    "exclusive). Page with `next_cursor`.",
    responses=documented(*_AUTHENTICATED, InvalidCursor),
)
async def list_audit_log(
    principal: AuditReader,
    session: Session,
    action: AuditAction | None = None,
    actor_user_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    where = AuditFilter(
        action=action.value if action else None,
        actor_user_id=actor_user_id,
        since=since,
        until=until,
    )
    return await audit.log_page(session, principal, where, cursor, limit)


router = APIRouter(route_class=UnitOfWorkRoute)
for _domain_router in (auth, account, members, invitations, api_keys, audit_log, organization):
    router.include_router(_domain_router)
