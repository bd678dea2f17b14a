"""Members of an organization: listing them, changing their role, removing them.

A member's sessions there end and the API keys they created there are revoked (removal) or
capped to their new role (demotion); the only owner can be neither removed nor demoted.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, organizations, repository, users
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal, principals
from ticketcreator.accounts.errors import LastOwner, RoleNotAllowed
from ticketcreator.accounts.models import Membership, User
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.accounts.schemas import MemberOut, MemberUpdate
from ticketcreator.core.errors import NotFound


async def add_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> Membership:
    membership = Membership(organization_id=organization_id, user_id=user_id, role=role)
    repository.add(session, membership)
    await users.flush_unique(session)
    return membership


async def list_members(session: AsyncSession, principal: Principal) -> list[MemberOut]:
    """The organization's members; other members' e-mail addresses only for roles with
    ``members:emails``, or for everyone if the organization shows them to all."""
    emails = principal.can(Permission.MEMBERS_EMAILS)
    if not emails:
        organization = await repository.organization(session, principal.organization_id)
        emails = organizations.settings_of(organization).member_emails_visible_to_all
    return [
        _member_out(membership, user, email=emails or user.id == principal.user_id)
        for membership, user in await repository.list_members(session, principal.organization_id)
    ]


def _member_out(membership: Membership, user: User, *, email: bool = True) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email if email else None,
        name=user.name,
        role=membership.role,
        joined_at=membership.created_at,
    )


async def _target_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> tuple[Membership, list[uuid.UUID]]:
    """The member to act on, row-locked together with the owners (owners first, always in
    the same order, so concurrent changes queue instead of deadlocking)."""
    owners = await repository.lock_owner_ids(session, principal.organization_id)
    target = await repository.get_membership_for_update(session, principal.organization_id, user_id)
    if target is None:
        raise NotFound("No such member in your organization.")
    if not principal.role.may_manage(target.role):
        raise RoleNotAllowed(f"Only an {target.role} or higher can act on an {target.role}.")
    return target, owners


def _protect_last_owner(target: Membership, owners: list[uuid.UUID]) -> None:
    if target.role == Role.OWNER and owners == [target.user_id]:
        raise LastOwner(
            "The organization's only owner cannot be removed or demoted; make someone else "
            "an owner first."
        )


async def change_member_role(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    body: MemberUpdate,
    origin: Origin,
) -> MemberOut:
    target, owners = await _target_member(session, principal, user_id)
    if not principal.role.may_manage(body.role):
        raise RoleNotAllowed(f"Your role cannot grant the role {body.role}.")
    previous = target.role
    if body.role != Role.OWNER:
        _protect_last_owner(target, owners)
    target.role = body.role
    principals.forget(organization_id=principal.organization_id)
    capped = 0
    if body.role.rank < previous.rank:
        capped = await repository.cap_api_key_roles(
            session, principal.organization_id, user_id, body.role
        )
    audit.record(
        session,
        AuditAction.MEMBER_ROLE_CHANGED,
        Actor.of(principal),
        origin,
        target_type="user",
        target_id=user_id,
        details={"from": previous.value, "to": body.role.value, "api_keys_capped": capped},
    )
    await session.flush()
    return _member_out(target, await users.load(session, user_id))


async def remove_member(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, origin: Origin
) -> None:
    """Remove a member, end their sessions here and revoke the API keys they created here."""
    target, owners = await _target_member(session, principal, user_id)
    _protect_last_owner(target, owners)
    organization_id = principal.organization_id
    await repository.delete_membership(session, organization_id, user_id)
    principals.forget(organization_id=organization_id)
    sessions = await repository.revoke_sessions(
        session,
        user_id=user_id,
        organization_id=organization_id,
        reason=AuditAction.MEMBER_REMOVED.value,
    )
    keys = await repository.revoke_api_keys_created_by(session, organization_id, user_id)
    audit.record(
        session,
        AuditAction.MEMBER_REMOVED,
        Actor.of(principal),
        origin,
        target_type="user",
        target_id=user_id,
        details={"role": target.role.value, "sessions_revoked": sessions, "api_keys_revoked": keys},
    )
