"""People's accounts: creating one, the caller's own account and organizations, and
changing the password (which ends the user's other sessions).

Password hashing runs in a worker thread (argon2 is deliberately slow and would stall the
event loop). Functions take the request's session and flush; the route wrapper commits.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal, principals
from ticketcreator.accounts.errors import EmailTaken, NotAPerson, SlugTaken, WrongPassword
from ticketcreator.accounts.models import User
from ticketcreator.accounts.passwords import hash_password, verify_password
from ticketcreator.accounts.schemas import Me, MyOrganization, OrganizationOut, PasswordChange
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.ratelimit import clear_login_failures, reserve_login_attempt


def person(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    """The user and session of a logged-in person; API keys have neither."""
    if principal.user_id is None or principal.session_id is None:
        raise NotAPerson("This action needs a user's access token, not an API key.")
    return principal.user_id, principal.session_id


async def new_user(session: AsyncSession, email: str, name: str, password: str) -> User:
    user = User(
        id=uuid.uuid4(),
        email=email.lower(),
        name=name,
        password_hash=await asyncio.to_thread(hash_password, password),
        is_active=True,
        password_changed_at=utcnow(),
    )
    repository.add(session, user)
    return user


async def flush_unique(session: AsyncSession) -> None:
    """Flush, turning a lost race on a unique e-mail or slug into a 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "uq_user_account_email" in str(exc.orig):
            raise EmailTaken("An account with this e-mail address already exists.") from None
        if "uq_organization_slug" in str(exc.orig):
            raise SlugTaken("Another organization uses this slug.") from None
        raise


async def load(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("The account no longer exists.")
    return user


async def change_password(
    session: AsyncSession, principal: Principal, body: PasswordChange, origin: Origin
) -> None:
    """Set a new password and end every other session of the user, in all organizations."""
    user_id, session_id = person(principal)
    user = await load(session, user_id)
    await reserve_login_attempt(user.email)
    if not await asyncio.to_thread(verify_password, user.password_hash, body.current_password):
        raise WrongPassword("The current password is wrong.")
    await clear_login_failures(user.email)
    user.password_hash = await asyncio.to_thread(hash_password, body.new_password)
    user.password_changed_at = utcnow()
    revoked = await repository.revoke_sessions(
        session, user_id=user.id, reason=AuditAction.PASSWORD_CHANGED.value, keep=session_id
    )
    principals.forget(user_id=user.id)
    audit.record(
        session,
        AuditAction.PASSWORD_CHANGED,
        Actor.of(principal),
        origin,
        target_type="user",
        target_id=user.id,
        details={"sessions_revoked": revoked},
    )


async def me(session: AsyncSession, principal: Principal) -> Me:
    user_id, _ = person(principal)
    user = await load(session, user_id)
    organizations = await repository.organizations_of(session, user.id)
    current = next(org for org, _ in organizations if org.id == principal.organization_id)
    return Me(
        id=user.id,
        email=user.email,
        name=user.name,
        organization=OrganizationOut.model_validate(current),
        role=principal.role,
        permissions=sorted(principal.permissions),
    )


async def my_organizations(session: AsyncSession, principal: Principal) -> list[MyOrganization]:
    user_id, _ = person(principal)
    return [
        MyOrganization(id=org.id, name=org.name, slug=org.slug, role=role)
        for org, role in await repository.organizations_of(session, user_id)
    ]
