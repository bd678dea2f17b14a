"""Account flows that create accounts, memberships and sessions together: signing up,
accepting an invitation, and adding a user from the command line.

Each calls the organizations, users, members and sessions services in the caller's
transaction and audits the result; the route wrapper (or the command) commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import (
    audit,
    invitations,
    members,
    organizations,
    repository,
    sessions,
    users,
)
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.errors import AlreadyMember, EmailTaken, InvitationUsed
from ticketcreator.accounts.models import Invitation, Organization, User
from ticketcreator.accounts.permissions import Role
from ticketcreator.accounts.schemas import InvitationAccept, SignupRequest, TokenPair
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import Forbidden, UnprocessableEntity


async def signup(session: AsyncSession, body: SignupRequest, origin: Origin) -> TokenPair:
    if await repository.get_user_by_email(session, body.email) is not None:
        raise EmailTaken("An account with this e-mail address already exists.")
    organization = await organizations.new_organization(
        session, body.organization_name, body.organization_slug
    )
    user = await users.new_user(session, body.email, body.name, body.password)
    await users.flush_unique(session)
    await members.add_member(session, organization.id, user.id, Role.OWNER)
    pair = await sessions.open_session(session, user.id, organization.id, origin)
    audit.record(
        session,
        AuditAction.SIGNUP,
        Actor(organization.id, user.id),
        origin,
        target_type="organization",
        target_id=organization.id,
    )
    return pair


async def _invitee(
    session: AsyncSession, invitation: Invitation, body: InvitationAccept, caller: Principal | None
) -> User:
    """The logged-in caller (whose e-mail must be the invited one), or a new account."""
    if caller is not None:
        user = await users.load(session, users.person(caller)[0])
        if user.email != invitation.email:
            raise Forbidden("This invitation was sent to another e-mail address.")
        return user
    if await repository.get_user_by_email(session, invitation.email) is not None:
        raise EmailTaken(
            "An account with this e-mail address exists: log in, then accept the invitation "
            "with your access token."
        )
    if body.name is None or body.password is None:
        raise UnprocessableEntity("A new account needs `name` and `password`.")
    user = await users.new_user(session, invitation.email, body.name, body.password)
    await users.flush_unique(session)
    return user


async def accept_invitation(
    session: AsyncSession, body: InvitationAccept, caller: Principal | None, origin: Origin
) -> TokenPair:
    """Join the inviting organization (single use) and get a session there."""
    invitation = await invitations.open_invitation(session, body.token)
    user = await _invitee(session, invitation, body, caller)
    if await repository.get_membership(session, invitation.organization_id, user.id):
        raise AlreadyMember("You are already a member of this organization.")
    if not await repository.claim_invitation(session, invitation.id):
        raise InvitationUsed("The invitation was already used.")
    await members.add_member(session, invitation.organization_id, user.id, invitation.role)
    pair = await sessions.open_session(session, user.id, invitation.organization_id, origin)
    audit.record(
        session,
        AuditAction.INVITATION_ACCEPTED,
        Actor(invitation.organization_id, user.id),
        origin,
        target_type="invitation",
        target_id=invitation.id,
        details={"role": invitation.role.value},
    )
    return pair


@dataclass(frozen=True)
class UserAdded:
    user: User
    organization: Organization
    new_user: bool
    new_organization: bool


async def add_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    organization_slug: str,
    role: Role,
    organization_name: str | None = None,
) -> UserAdded:
    """Make ``email`` a member of the organization, creating the organization and the account
    when missing. An existing account keeps its password."""
    organization = await repository.get_organization_by_slug(session, organization_slug)
    new_organization_created = organization is None
    if organization is None:
        organization = await organizations.new_organization(
            session, organization_name or organization_slug, organization_slug
        )
        await users.flush_unique(session)
    user = await repository.get_user_by_email(session, email)
    new_user_created = user is None
    if user is None:
        minimum = get_settings().security.password_min_length
        if len(password) < minimum:
            raise UnprocessableEntity(f"The password must have at least {minimum} characters.")
        user = await users.new_user(session, email, name, password)
        await users.flush_unique(session)
    elif await repository.get_membership(session, organization.id, user.id) is not None:
        raise AlreadyMember(f"{user.email} is already a member of {organization.slug}.")
    await members.add_member(session, organization.id, user.id, role)
    return UserAdded(user, organization, new_user_created, new_organization_created)
