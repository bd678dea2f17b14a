"""Sessions: logging in, rotating refresh tokens, switching organization, logging out.

A session is a refresh-token family; a refresh token presented twice revokes its whole
family. Events that must outlive a failing request (a failed login, a reused refresh token)
are written in their own transaction (see :mod:`ticketcreator.accounts.audit`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository, users
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal, principals
from ticketcreator.accounts.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    NoOrganization,
    RefreshTokenReused,
)
from ticketcreator.accounts.models import AuthSession, Organization, RefreshToken, User
from ticketcreator.accounts.passwords import hash_password, needs_rehash, verify_password
from ticketcreator.accounts.permissions import Role
from ticketcreator.accounts.schemas import LoginRequest, TokenPair
from ticketcreator.accounts.tokens import hash_secret, issue_access_token, new_secret
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import session_factory, utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.ratelimit import (
    clear_login_failures,
    limit_refresh_session,
    limit_unknown_refresh,
    reserve_login_attempt,
)

# Recognisable prefixes of opaque secrets (they help secret scanners), not secrets.
REFRESH_TOKEN_PREFIX = "tcr"  # noqa: S105


async def open_session(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID, origin: Origin
) -> TokenPair:
    """Start a session (a refresh-token family) and issue its first token pair."""
    cfg = get_settings().security
    now = utcnow()
    login = AuthSession(
        id=uuid.uuid4(),
        user_id=user_id,
        organization_id=organization_id,
        created_at=now,
        expires_at=now + timedelta(seconds=cfg.refresh_token_ttl_s),
        ip=origin.ip,
        user_agent=origin.user_agent,
    )
    repository.add(session, login)
    await session.flush()
    return await _next_pair(session, login)


async def _next_pair(session: AsyncSession, login: AuthSession) -> TokenPair:
    refresh_token = new_secret(REFRESH_TOKEN_PREFIX)
    repository.add(
        session,
        RefreshToken(
            id=uuid.uuid4(),
            session_id=login.id,
            token_hash=hash_secret(refresh_token),
            created_at=utcnow(),
        ),
    )
    await session.flush()
    access_token, _ = issue_access_token(login.user_id, login.organization_id, login.id)
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=get_settings().security.access_token_ttl_s,
        user_id=login.user_id,
        organization_id=login.organization_id,
    )


def _choose_organization(
    memberships: Sequence[tuple[Organization, Role]],
    organization_id: uuid.UUID | None,
    slug: str | None,
) -> Organization:
    if not memberships:
        raise NoOrganization("Your account is not a member of any organization.")
    if organization_id is None and slug is None:
        return memberships[0][0]
    for organization, _ in memberships:
        if organization.id == organization_id or organization.slug == slug:
            return organization
    raise NotFound("You are not a member of that organization.")


async def login(session: AsyncSession, body: LoginRequest, origin: Origin) -> TokenPair:
    await reserve_login_attempt(body.email)
    user = await repository.get_user_by_email(session, body.email)
    valid = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, body.password
    )
    memberships = await _memberships(session, user)
    if user is None or not valid or not user.is_active:
        await _login_failed(user, memberships, origin)
        raise InvalidCredentials()
    await clear_login_failures(body.email)
    organization = _choose_organization(memberships, body.organization_id, body.organization_slug)
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, body.password)
    pair = await open_session(session, user.id, organization.id, origin)
    audit.record(session, AuditAction.LOGIN, Actor(organization.id, user.id), origin)
    return pair


async def _memberships(session: AsyncSession, user: User | None) -> list[tuple[Organization, Role]]:
    if user is None:
        return []
    return [(org, role) for org, role in await repository.organizations_of(session, user.id)]


async def _login_failed(
    user: User | None, memberships: Sequence[tuple[Organization, Role]], origin: Origin
) -> None:
    """Audit a failed login in the account's first organization (unknown e-mail: no org)."""
    reason = "unknown_account" if user is None else "inactive" if not user.is_active else "password"
    await audit.record_now(
        AuditAction.LOGIN_FAILED,
        Actor(memberships[0][0].id if memberships else None, user.id if user else None),
        origin,
        details={"reason": reason},
    )


async def refresh(session: AsyncSession, refresh_token: str, origin: Origin) -> TokenPair:
    """Spend a refresh token for a new pair. A token presented twice means it leaked (or a
    client misbehaves): the whole session is revoked and the event audited. Refreshes are
    limited per session; tokens that match none are limited per address."""
    found = await repository.find_refresh_token(session, hash_secret(refresh_token))
    if found is None:
        await limit_unknown_refresh(origin.ip)
        raise InvalidRefreshToken()
    token, login = found
    await limit_refresh_session(login.id)
    now = utcnow()
    if login.revoked_at is not None or login.expires_at <= now:
        raise InvalidRefreshToken()
    if token.used_at is not None or not await repository.spend_refresh_token(session, token.id):
        await _revoke_family(login, origin)
        raise RefreshTokenReused()
    user = await repository.get_user(session, login.user_id)
    membership = await repository.get_membership(session, login.organization_id, login.user_id)
    if user is None or not user.is_active or membership is None:
        raise InvalidRefreshToken("The account or its membership no longer exists.")
    login.expires_at = now + timedelta(seconds=get_settings().security.refresh_token_ttl_s)
    return await _next_pair(session, login)


async def _revoke_family(login: AuthSession, origin: Origin) -> None:
    async with session_factory()() as own:
        await repository.revoke_session(own, login.id, AuditAction.REFRESH_TOKEN_REUSED.value)
        principals.forget(user_id=login.user_id)
        audit.record(
            own,
            AuditAction.REFRESH_TOKEN_REUSED,
            Actor(login.organization_id, login.user_id),
            origin,
            target_type="session",
            target_id=login.id,
        )
        await own.commit()


async def logout(session: AsyncSession, principal: Principal, origin: Origin) -> None:
    _, session_id = users.person(principal)
    await repository.revoke_session(session, session_id, AuditAction.LOGOUT.value)
    principals.forget(user_id=principal.user_id)
    audit.record(
        session,
        AuditAction.LOGOUT,
        Actor.of(principal),
        origin,
        target_type="session",
        target_id=session_id,
    )


async def switch_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, origin: Origin
) -> TokenPair:
    """A new session in another of the caller's organizations; the current one stays valid
    (a person may work in two organizations side by side)."""
    user_id, _ = users.person(principal)
    if await repository.get_membership(session, organization_id, user_id) is None:
        raise NotFound("You are not a member of that organization.")
    pair = await open_session(session, user_id, organization_id, origin)
    audit.record(
        session,
        AuditAction.LOGIN,
        Actor(organization_id, user_id),
        origin,
        details={"via": "switch", "from_organization_id": str(principal.organization_id)},
    )
    return pair
