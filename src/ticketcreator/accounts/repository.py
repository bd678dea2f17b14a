"""Every accounts query. Anything that belongs to an organization is looked up with the
caller's ``organization_id`` in the ``WHERE`` clause, so another tenant's row is simply not
found (the API answers 404, and never confirms that it exists)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, exists, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from ticketcreator.accounts.models import (
    ApiKey,
    AuditEntry,
    AuthSession,
    Invitation,
    Membership,
    Organization,
    RefreshToken,
    User,
)
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.db import Base, utcnow


def add(session: AsyncSession, row: Base) -> None:
    session.add(row)


# Users and organizations


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> Organization | None:
    return await session.get(Organization, organization_id)


async def organization(
    session: AsyncSession, organization_id: uuid.UUID, *, lock: bool = False
) -> Organization:
    """The caller's organization (it exists while they are authenticated in it)."""
    query = select(Organization).where(Organization.id == organization_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.scalars(select(User).where(User.email == email.lower()))
    return result.one_or_none()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return bool(await session.scalar(select(exists().where(Organization.slug == slug))))


async def get_organization_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    result = await session.scalars(select(Organization).where(Organization.slug == slug))
    return result.one_or_none()


async def organizations_of(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[Row[Organization, Role]]:
    """The user's organizations with their role there, oldest membership first."""
    result = await session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Organization.id)
    )
    return result.all()


async def get_membership(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    return await session.get(Membership, (organization_id, user_id))


async def get_membership_for_update(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    result = await session.scalars(
        select(Membership)
        .where(Membership.organization_id == organization_id, Membership.user_id == user_id)
        .with_for_update()
    )
    return result.one_or_none()


async def list_members(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[Row[Membership, User]]:
    result = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by(Membership.created_at, User.email)
    )
    return result.all()


async def lock_owner_ids(session: AsyncSession, organization_id: uuid.UUID) -> list[uuid.UUID]:
    """The organization's owners, row-locked: concurrent demotions cannot both pass the
    last-owner check."""
    result = await session.scalars(
        select(Membership.user_id)
        .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
        .with_for_update()
    )
    return list(result.all())


async def delete_membership(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    await session.execute(
        delete(Membership).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )


# Sessions and refresh tokens


async def revoke_sessions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    reason: str,
    organization_id: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke the user's live sessions (in one organization, or all; except ``keep``)."""
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if organization_id is not None:
        query = query.where(AuthSession.organization_id == organization_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    result = await session.execute(query.values(revoked_at=utcnow(), revoked_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def find_refresh_token(
    session: AsyncSession, token_hash: str
) -> Row[RefreshToken, AuthSession] | None:
    result = await session.execute(
        select(RefreshToken, AuthSession)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == token_hash)
    )
    return result.first()


async def spend_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    """Mark the token used; False if it already was (also when another request just won)."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(RefreshToken.id)
    )
    return result.first() is not None


# API keys


async def list_api_keys(session: AsyncSession, organization_id: uuid.UUID) -> Sequence[ApiKey]:
    result = await session.scalars(
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return result.all()


async def get_api_key(
    session: AsyncSession, organization_id: uuid.UUID, api_key_id: uuid.UUID
) -> ApiKey | None:
    result = await session.scalars(
        select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == api_key_id)
    )
    return result.one_or_none()


async def revoke_api_keys_created_by(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> int:
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.organization_id == organization_id,
            ApiKey.created_by == user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def cap_api_key_roles(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> int:
    """Lower the role of the user's keys to ``role`` where it is higher."""
    higher = [other for other in Role if other.rank > role.rank]
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.organization_id == organization_id,
            ApiKey.created_by == user_id,
            ApiKey.role.in_(higher),
        )
        .values(role=role)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# Invitations


async def list_invitations(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[Invitation]:
    result = await session.scalars(
        select(Invitation)
        .where(Invitation.organization_id == organization_id)
        .order_by(Invitation.created_at.desc(), Invitation.id)
    )
    return result.all()


async def get_invitation(
    session: AsyncSession, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> Invitation | None:
    result = await session.scalars(
        select(Invitation).where(
            Invitation.organization_id == organization_id, Invitation.id == invitation_id
        )
    )
    return result.one_or_none()


async def get_invitation_with_token(
    session: AsyncSession, invitation_id: uuid.UUID
) -> Invitation | None:
    """An invitation by id alone, with its sealed token, for the mail worker (the id comes
    from our own outbox event)."""
    result = await session.scalars(
        select(Invitation)
        .options(undefer(Invitation.token_encrypted))
        .where(Invitation.id == invitation_id)
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def find_invitation_by_token(session: AsyncSession, token_hash: str) -> Invitation | None:
    """The invitation a token opens. Not scoped by organization: the token is the authority,
    and it names exactly one invitation."""
    result = await session.scalars(select(Invitation).where(Invitation.token_hash == token_hash))
    return result.one_or_none()


async def claim_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> bool:
    """Mark the invitation accepted; False if it was accepted or revoked meanwhile."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(accepted_at=utcnow(), token_encrypted=None)
        .returning(Invitation.id)
    )
    return result.first() is not None


async def revoke_pending_invitations(
    session: AsyncSession, organization_id: uuid.UUID, email: str
) -> None:
    await session.execute(
        update(Invitation)
        .where(
            Invitation.organization_id == organization_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), token_encrypted=None)
    )


# Audit log


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_user_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def audit_page(
    session: AsyncSession,
    organization_id: uuid.UUID,
    where: AuditFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[AuditEntry]:
    """Newest first; ``after`` is the (time, id) of the last entry of the previous page."""
    query = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if where.action is not None:
        query = query.where(AuditEntry.action == where.action)
    if where.actor_user_id is not None:
        query = query.where(AuditEntry.actor_user_id == where.actor_user_id)
    if where.since is not None:
        query = query.where(AuditEntry.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.created_at < where.until)
    if after is not None:
        query = query.where(tuple_(AuditEntry.created_at, AuditEntry.id) < tuple_(*after))
    query = query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
