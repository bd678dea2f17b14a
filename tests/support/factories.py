"""Rows for tests, written straight to the database (accounts are not what these tests test)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import AuthSession, Membership, Organization, User
from ticketcreator.accounts.passwords import hash_password
from ticketcreator.accounts.permissions import Role
from ticketcreator.accounts.tokens import issue_access_token
from ticketcreator.core.db import utcnow

DEFAULT_PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hash_password(DEFAULT_PASSWORD)


@dataclass(frozen=True)
class Member:
    organization: Organization
    user: User
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def org_id(self) -> uuid.UUID:
        return self.organization.id


async def create_organization(session: AsyncSession, name: str | None = None) -> Organization:
    suffix = uuid.uuid4().hex[:8]
    organization = Organization(name=name or f"Org {suffix}", slug=f"org-{suffix}", settings={})
    session.add(organization)
    await session.flush()
    return organization


async def create_member(
    session: AsyncSession,
    organization: Organization | None = None,
    role: Role = Role.AGENT,
    *,
    email: str | None = None,
    name: str | None = None,
) -> Member:
    """A user with ``role`` in ``organization`` (a new one by default), logged in; committed."""
    organization = organization or await create_organization(session)
    suffix = uuid.uuid4().hex[:8]
    user = User(
        email=(email or f"{role.value}-{suffix}@example.com").lower(),
        name=name or f"{role.value.title()} {suffix}",
        password_hash=_PASSWORD_HASH,
        is_active=True,
        password_changed_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    session.add(Membership(organization_id=organization.id, user_id=user.id, role=role))
    login = AuthSession(
        user_id=user.id,
        organization_id=organization.id,
        expires_at=utcnow() + timedelta(days=1),
    )
    session.add(login)
    await session.flush()
    token, _ = issue_access_token(user.id, organization.id, login.id)
    await session.commit()
    return Member(organization=organization, user=user, role=role, token=token)
