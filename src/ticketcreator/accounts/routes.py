"""HTTP routes of the accounts domain: authentication, the caller's account, members,
invitations (:mod:`.invitation_routes`), API keys and the audit log. Each route declares who
may call it and hands the work to the accounts services (sessions, users, members, ...) and
flows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ticketcreator.accounts import api_keys as api_key_service
from ticketcreator.accounts import audit, flows, invitation_routes, organizations, sessions, users
from ticketcreator.accounts import members as member_service
from ticketcreator.accounts.audit import AuditAction
from ticketcreator.accounts.auth import (
    Authorizer,
    Principal,
)
from ticketcreator.accounts.deps import (
    AUTH_ENDPOINT,
    AUTH_LIMITED_ERRORS,
    AUTHENTICATED_ERRORS,
    MemberManager,
    RequestOrigin,
)
from ticketcreator.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    LastOwner,
    NoOrganization,
    NotAPerson,
    RefreshTokenReused,
    RoleNotAllowed,
    SlugTaken,
    WrongPassword,
)
from ticketcreator.accounts.models import ApiKey
from ticketcreator.accounts.permissions import Permission
from ticketcreator.accounts.repository import AuditFilter
from ticketcreator.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditPage,
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
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import (
    NotFound,
    ServiceUnavailable,
    UnprocessableEntity,
    documented,
)
from ticketcreator.core.pagination import InvalidCursor

Person = Annotated[Principal, Depends(Authorizer(Permission.ACCOUNT_SELF))]
MemberReader = Annotated[Principal, Depends(Authorizer(Permission.MEMBERS_READ))]
KeyManager = Annotated[Principal, Depends(Authorizer(Permission.API_KEYS_MANAGE))]
AuditReader = Annotated[Principal, Depends(Authorizer(Permission.AUDIT_READ))]

auth = APIRouter(prefix="/auth", tags=["auth"], route_class=UnitOfWorkRoute)
account = APIRouter(prefix="/me", tags=["account"], route_class=UnitOfWorkRoute)
members = APIRouter(prefix="/members", tags=["members"], route_class=UnitOfWorkRoute)
api_keys = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=UnitOfWorkRoute)
audit_log = APIRouter(prefix="/audit-log", tags=["audit"], route_class=UnitOfWorkRoute)
organization = APIRouter(prefix="/organization", tags=["organization"], route_class=UnitOfWorkRoute)


@auth.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    dependencies=AUTH_ENDPOINT,
    summary="Create an organization and its owner, and log the owner in",
    responses=documented(EmailTaken, SlugTaken, *AUTH_LIMITED_ERRORS),
)
async def signup(body: SignupRequest, session: Session, origin: RequestOrigin) -> TokenPair:
    return await flows.signup(session, body, origin)


@auth.post(
    "/login",
    dependencies=AUTH_ENDPOINT,
    summary="Exchange e-mail and password for an access and a refresh token",
    description="Members of several organizations may name one (by id or slug); otherwise "
    "the session opens in the organization they joined first. Failed logins are limited per "
    "account and per IP.",
    responses=documented(InvalidCredentials, NotFound, NoOrganization, *AUTH_LIMITED_ERRORS),
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
    responses=documented(InvalidRefreshToken, RefreshTokenReused, *AUTH_LIMITED_ERRORS),
)
async def refresh(body: RefreshRequest, session: Session, origin: RequestOrigin) -> TokenPair:
    return await sessions.refresh(session, body.refresh_token, origin)


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the current session (its access and refresh tokens stop working)",
    responses=documented(*AUTHENTICATED_ERRORS, NotAPerson),
)
async def logout(principal: Person, session: Session, origin: RequestOrigin) -> None:
    await sessions.logout(session, principal, origin)


@auth.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password; your other sessions are ended",
    responses=documented(
        *AUTHENTICATED_ERRORS, NotAPerson, WrongPassword, NotFound, ServiceUnavailable
    ),
)
async def change_password(
    body: PasswordChange, principal: Person, session: Session, origin: RequestOrigin
) -> None:
    await users.change_password(session, principal, body, origin)


@account.get(
    "",
    summary="Who you are, in which organization, allowed to do what",
    responses=documented(*AUTHENTICATED_ERRORS, NotAPerson, NotFound),
)
async def me(principal: Person, session: Session) -> Me:
    return await users.me(session, principal)


@account.get(
    "/organizations",
    summary="The organizations you belong to, with your role",
    responses=documented(*AUTHENTICATED_ERRORS, NotAPerson),
)
async def my_organizations(principal: Person, session: Session) -> list[MyOrganization]:
    return await users.my_organizations(session, principal)


@account.post(
    "/organizations/{organization_id}/switch",
    summary="Get a token pair for another of your organizations",
    responses=documented(*AUTHENTICATED_ERRORS, NotAPerson, NotFound),
)
async def switch_organization(
    organization_id: uuid.UUID, principal: Person, session: Session, origin: RequestOrigin
) -> TokenPair:
    return await sessions.switch_organization(session, principal, organization_id, origin)


@members.get(
    "", summary="Members of your organization", responses=documented(*AUTHENTICATED_ERRORS)
)
async def list_members(principal: MemberReader, session: Session) -> list[MemberOut]:
    return await member_service.list_members(session, principal)


@members.patch(
    "/{user_id}",
    summary="Change a member's role",
    description="You may grant roles up to your own and act on members up to your rank: only "
    "owners manage owners. The last owner cannot be demoted. Demoting a member also lowers the "
    "role of the API keys they created.",
    responses=documented(*AUTHENTICATED_ERRORS, RoleNotAllowed, NotFound, LastOwner),
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
    responses=documented(*AUTHENTICATED_ERRORS, RoleNotAllowed, NotFound, LastOwner),
)
async def remove_member(
    user_id: uuid.UUID, principal: MemberManager, session: Session, origin: RequestOrigin
) -> None:
    await member_service.remove_member(session, principal, user_id, origin)


@organization.get(
    "/settings",
    summary="Your organization's settings (who sees members' e-mail addresses)",
    responses=documented(*AUTHENTICATED_ERRORS),
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
    responses=documented(*AUTHENTICATED_ERRORS, UnprocessableEntity),
)
async def change_organization_settings(
    body: OrganizationSettingsPatch,
    principal: MemberManager,
    session: Session,
    origin: RequestOrigin,
) -> OrganizationSettings:
    return await organizations.change_organization_settings(session, principal, body, origin)


@api_keys.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; the response holds the key, once",
    description="Scopes come from the API-key subset of permissions; the key acts with at "
    "most your role, and only where role and scopes both allow. Send it as "
    "`Authorization: ApiKey <key>` or `X-API-Key: <key>`.",
    responses=documented(*AUTHENTICATED_ERRORS, RoleNotAllowed),
)
async def create_api_key(
    body: ApiKeyCreate, principal: KeyManager, session: Session, origin: RequestOrigin
) -> ApiKeyCreated:
    return await api_key_service.create_api_key(session, principal, body, origin)


@api_keys.get(
    "",
    summary="API keys of your organization (never the keys themselves)",
    responses=documented(*AUTHENTICATED_ERRORS),
)
async def list_api_keys(principal: KeyManager, session: Session) -> list[ApiKeyOut]:
    found: Sequence[ApiKey] = await api_key_service.list_api_keys(session, principal)
    return [ApiKeyOut.model_validate(record) for record in found]


@api_keys.delete(
    "/{api_key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key (takes effect on its next request)",
    responses=documented(*AUTHENTICATED_ERRORS, NotFound),
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
    responses=documented(*AUTHENTICATED_ERRORS, InvalidCursor),
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
for _domain_router in (
    auth,
    account,
    members,
    invitation_routes.router,
    api_keys,
    audit_log,
    organization,
):
    router.include_router(_domain_router)
