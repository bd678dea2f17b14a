"""API keys of an organization: scoped, never above their creator's role, shown once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import API_KEY_PREFIX, Principal, principals
from ticketcreator.accounts.errors import RoleNotAllowed
from ticketcreator.accounts.models import ApiKey
from ticketcreator.accounts.permissions import Role
from ticketcreator.accounts.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from ticketcreator.accounts.tokens import hash_secret
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound


def new_api_key() -> tuple[str, str]:
    """A fresh key ``tck_<prefix>_<secret>`` and its public lookup prefix."""
    prefix = secrets.token_hex(6)
    return f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


async def issue_api_key(
    session: AsyncSession,
    organization_id: uuid.UUID,
    created_by: uuid.UUID | None,
    body: ApiKeyCreate,
    role: Role,
) -> ApiKeyCreated:
    key, prefix = new_api_key()
    record = ApiKey(
        id=uuid.uuid4(),
        organization_id=organization_id,
        created_by=created_by,
        name=body.name,
        prefix=prefix,
        key_hash=hash_secret(key),
        scopes=[scope.value for scope in body.scopes],
        role=role,
        created_at=utcnow(),
        expires_at=body.expires_at,
    )
    repository.add(session, record)
    await session.flush()
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(record).model_dump(), "key": key}
    )


async def create_api_key(
    session: AsyncSession, principal: Principal, body: ApiKeyCreate, origin: Origin
) -> ApiKeyCreated:
    role = body.role or principal.role
    if not principal.role.may_manage(role):
        raise RoleNotAllowed(f"A key cannot have a higher role than yours ({principal.role}).")
    created = await issue_api_key(session, principal.organization_id, principal.user_id, body, role)
    audit.record(
        session,
        AuditAction.API_KEY_CREATED,
        Actor.of(principal),
        origin,
        target_type="api_key",
        target_id=created.id,
        details={"name": created.name, "role": role.value, "scopes": list(created.scopes)},
    )
    return created


async def list_api_keys(session: AsyncSession, principal: Principal) -> Sequence[ApiKey]:
    return await repository.list_api_keys(session, principal.organization_id)


async def revoke_api_key(
    session: AsyncSession, principal: Principal, api_key_id: uuid.UUID, origin: Origin
) -> None:
    record = await repository.get_api_key(session, principal.organization_id, api_key_id)
    if record is None:
        raise NotFound("No such API key in your organization.")
    if record.revoked_at is not None:
        return
    record.revoked_at = utcnow()
    principals.forget(organization_id=principal.organization_id)
    audit.record(
        session,
        AuditAction.API_KEY_REVOKED,
        Actor.of(principal),
        origin,
        target_type="api_key",
        target_id=record.id,
        details={"name": record.name},
    )
