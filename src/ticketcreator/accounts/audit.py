"""The audit log: who did what to accounts and access, from where, and when.

:func:`record` writes in the caller's transaction, so an entry exists exactly when the change
it describes was committed. Failures that end the request with an error (a wrong password, a
reused refresh token) must be kept although the request rolls back: :func:`record_now`
writes them in a transaction of their own. Entries never hold secrets (no passwords, tokens
or keys), only ids, roles and names. :func:`log_page` reads the log back, newest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import repository
from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.models import AuditEntry
from ticketcreator.accounts.schemas import AuditEntryOut, AuditPage
from ticketcreator.core.db import session_factory, utcnow
from ticketcreator.core.pagination import decode_position, encode_position
from ticketcreator.core.ratelimit import client_ip

_USER_AGENT_MAX = 500


class AuditAction(StrEnum):
    SIGNUP = "signup"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - an action name
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an action name
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    MEMBER_ROLE_CHANGED = "member_role_changed"
    MEMBER_REMOVED = "member_removed"
    INVITATION_CREATED = "invitation_created"
    INVITATION_REVOKED = "invitation_revoked"
    INVITATION_ACCEPTED = "invitation_accepted"
    AI_CONFIG_UPDATED = "ai_config_updated"
    ORGANIZATION_SETTINGS_CHANGED = "organization_settings_changed"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as recorded with each audit entry."""

    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, request: Request) -> Origin:
        agent = request.headers.get("user-agent")
        return cls(ip=client_ip(request), user_agent=agent[:_USER_AGENT_MAX] if agent else None)


@dataclass(frozen=True)
class Actor:
    """Who acted: a user, an API key, or nobody known (a failed login for an unknown e-mail)."""

    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.organization_id, principal.user_id, principal.api_key_id)


def _entry(
    action: AuditAction,
    actor: Actor,
    origin: Origin,
    target_type: str | None,
    target_id: uuid.UUID | str | None,
    details: dict[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action.value,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details or {},
        created_at=utcnow(),
    )


def record(
    session: AsyncSession,
    action: AuditAction,
    actor: Actor,
    origin: Origin,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction."""
    entry = _entry(action, actor, origin, target_type, target_id, details)
    repository.add(session, entry)
    return entry


async def record_now(
    action: AuditAction,
    actor: Actor,
    origin: Origin,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write an entry in its own transaction, committed even if the request then fails."""
    async with session_factory()() as session:
        record(
            session,
            action,
            actor,
            origin,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
        await session.commit()


async def log_page(
    session: AsyncSession,
    principal: Principal,
    where: repository.AuditFilter,
    cursor: str | None,
    limit: int,
) -> AuditPage:
    after = decode_position(cursor)
    entries = await repository.audit_page(
        session, principal.organization_id, where, after, limit + 1
    )
    page = list(entries[:limit])
    next_cursor = (
        encode_position(page[-1].created_at, page[-1].id) if len(entries) > limit else None
    )
    return AuditPage(
        items=[AuditEntryOut.model_validate(entry) for entry in page], next_cursor=next_cursor
    )
