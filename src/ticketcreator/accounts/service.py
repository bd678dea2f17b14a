"""Accounts use cases: sign-up, login, token rotation, members, invitations, API keys, audit.

Functions take the request's session and flush; the route wrapper commits. Password hashing
runs in a worker thread (argon2 is deliberately slow and would stall the event loop).
Events that must outlive a failing request (a failed login, a reused refresh token) are
written in their own transaction (see :mod:`ticketcreator.accounts.audit`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import API_KEY_PREFIX, Principal, principals
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
from ticketcreator.accounts.passwords import hash_password, needs_rehash, verify_password
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEntryOut,
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
    OrganizationOut,
    OrganizationSettings,
    OrganizationSettingsPatch,
    PasswordChange,
    SignupRequest,
    TokenPair,
)
from ticketcreator.accounts.tokens import hash_secret, issue_access_token, new_secret
from ticketcreator.core import mail, outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import session_factory, utcnow
from ticketcreator.core.errors import Forbidden, NotFound, UnprocessableEntity
from ticketcreator.core.ratelimit import (
    clear_login_failures,
    limit_refresh_session,
    limit_unknown_refresh,
    reserve_login_attempt,
)

# Recognisable prefixes of opaque secrets (they help secret scanners), not secrets.
REFRESH_TOKEN_PREFIX = "tcr"  # noqa: S105
INVITATION_TOKEN_PREFIX = "tci"  # noqa: S105
INVITATION_CREATED = "invitation.created"  # outbox topic; payload {"invitation_id"}
_SLUG_MAX = 60


def _person(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    """The user and session of a logged-in person; API keys have neither."""
    if principal.user_id is None or principal.session_id is None:
        raise NotAPerson("This action needs a user's access token, not an API key.")
    return principal.user_id, principal.session_id


# Sessions


async def _open_session(
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


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return slug or "org"


async def _free_slug(session: AsyncSession, name: str) -> str:
    base = _slugify(name)
    slug = base
    while await repository.slug_taken(session, slug):
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


async def _new_user(session: AsyncSession, email: str, name: str, password: str) -> User:
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


async def _flush_unique(session: AsyncSession) -> None:
    """Flush, turning a lost race on a unique e-mail or slug into a 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "uq_user_account_email" in str(exc.orig):
            raise EmailTaken("An account with this e-mail address already exists.") from None
        if "uq_organization_slug" in str(exc.orig):
            raise SlugTaken("Another organization uses this slug.") from None
        raise


async def new_organization(session: AsyncSession, name: str, slug: str | None) -> Organization:
    if slug is not None and await repository.slug_taken(session, slug):
        raise SlugTaken("Another organization uses this slug.")
    organization = Organization(
        id=uuid.uuid4(), name=name, slug=slug or await _free_slug(session, name), settings={}
    )
    repository.add(session, organization)
    return organization


async def add_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> Membership:
    membership = Membership(organization_id=organization_id, user_id=user_id, role=role)
    repository.add(session, membership)
    await _flush_unique(session)
    return membership


async def signup(session: AsyncSession, body: SignupRequest, origin: Origin) -> TokenPair:
    if await repository.get_user_by_email(session, body.email) is not None:
        raise EmailTaken("An account with this e-mail address already exists.")
    organization = await new_organization(session, body.organization_name, body.organization_slug)
    user = await _new_user(session, body.email, body.name, body.password)
    await _flush_unique(session)
    await add_member(session, organization.id, user.id, Role.OWNER)
    pair = await _open_session(session, user.id, organization.id, origin)
    audit.record(
        session,
        AuditAction.SIGNUP,
        Actor(organization.id, user.id),
        origin,
        target_type="organization",
        target_id=organization.id,
    )
    return pair


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
    pair = await _open_session(session, user.id, organization.id, origin)
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
    _, session_id = _person(principal)
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


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("The account no longer exists.")
    return user


async def change_password(
    session: AsyncSession, principal: Principal, body: PasswordChange, origin: Origin
) -> None:
    """Set a new password and end every other session of the user, in all organizations."""
    user_id, session_id = _person(principal)
    user = await _user(session, user_id)
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


# The caller's account


async def me(session: AsyncSession, principal: Principal) -> Me:
    user_id, _ = _person(principal)
    user = await _user(session, user_id)
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
    user_id, _ = _person(principal)
    return [
        MyOrganization(id=org.id, name=org.name, slug=org.slug, role=role)
        for org, role in await repository.organizations_of(session, user_id)
    ]


async def switch_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, origin: Origin
) -> TokenPair:
    """A new session in another of the caller's organizations; the current one stays valid
    (a person may work in two organizations side by side)."""
    user_id, _ = _person(principal)
    if await repository.get_membership(session, organization_id, user_id) is None:
        raise NotFound("You are not a member of that organization.")
    pair = await _open_session(session, user_id, organization_id, origin)
    audit.record(
        session,
        AuditAction.LOGIN,
        Actor(organization_id, user_id),
        origin,
        details={"via": "switch", "from_organization_id": str(principal.organization_id)},
    )
    return pair


# Members


# ``organization.settings`` key: other members' e-mail addresses shown to every role.
MEMBER_EMAILS_VISIBLE_TO_ALL = "member_emails_visible_to_all"


def _organization_settings(organization: Organization) -> OrganizationSettings:
    own = organization.settings or {}
    return OrganizationSettings(
        member_emails_visible_to_all=own.get(MEMBER_EMAILS_VISIBLE_TO_ALL) is True
    )


async def list_members(session: AsyncSession, principal: Principal) -> list[MemberOut]:
    """The organization's members; other members' e-mail addresses only for roles with
    ``members:emails``, or for everyone if the organization shows them to all."""
    emails = principal.can(Permission.MEMBERS_EMAILS)
    if not emails:
        organization = await repository.organization(session, principal.organization_id)
        emails = _organization_settings(organization).member_emails_visible_to_all
    return [
        _member_out(membership, user, email=emails or user.id == principal.user_id)
        for membership, user in await repository.list_members(session, principal.organization_id)
    ]


async def organization_settings(
    session: AsyncSession, principal: Principal
) -> OrganizationSettings:
    organization = await repository.organization(session, principal.organization_id)
    return _organization_settings(organization)


async def change_organization_settings(
    session: AsyncSession, principal: Principal, patch: OrganizationSettingsPatch, origin: Origin
) -> OrganizationSettings:
    organization = await repository.organization(session, principal.organization_id, lock=True)
    changes = patch.model_dump(exclude_none=True)
    if changes:
        organization.settings = {**(organization.settings or {}), **changes}
        audit.record(
            session,
            AuditAction.ORGANIZATION_SETTINGS_CHANGED,
            Actor.of(principal),
            origin,
            target_type="organization",
            target_id=principal.organization_id,
            details=changes,
        )
        await session.flush()
    return _organization_settings(organization)


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
    return _member_out(target, await _user(session, user_id))


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


# Invitations


async def invite(
    session: AsyncSession, principal: Principal, body: InvitationCreate, origin: Origin
) -> InvitationCreated:
    """Invite an e-mail address; a newer invitation replaces a pending one."""
    if not principal.role.may_manage(body.role):
        raise RoleNotAllowed(f"Your role cannot grant the role {body.role}.")
    organization_id = principal.organization_id
    existing = await repository.get_user_by_email(session, body.email)
    if existing is not None and await repository.get_membership(
        session, organization_id, existing.id
    ):
        raise AlreadyMember("This person is already a member of your organization.")
    await repository.revoke_pending_invitations(session, organization_id, body.email)
    token = new_secret(INVITATION_TOKEN_PREFIX)
    now = utcnow()
    invitation = Invitation(
        id=uuid.uuid4(),
        organization_id=organization_id,
        email=body.email,
        role=body.role,
        token_hash=hash_secret(token),
        token_encrypted=token,
        invited_by=principal.user_id,
        created_at=now,
        expires_at=now + timedelta(seconds=get_settings().security.invitation_ttl_s),
    )
    repository.add(session, invitation)
    await session.flush()
    audit.record(
        session,
        AuditAction.INVITATION_CREATED,
        Actor.of(principal),
        origin,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email, "role": invitation.role.value},
    )
    outbox.emit(
        session,
        INVITATION_CREATED,
        {"invitation_id": str(invitation.id)},
        organization_id=organization_id,
    )
    return InvitationCreated.model_validate(
        {**InvitationOut.model_validate(invitation).model_dump(), "token": token}
    )


async def list_invitations(session: AsyncSession, principal: Principal) -> Sequence[Invitation]:
    return await repository.list_invitations(session, principal.organization_id)


async def revoke_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID, origin: Origin
) -> None:
    invitation = await repository.get_invitation(session, principal.organization_id, invitation_id)
    if invitation is None:
        raise NotFound("No such invitation in your organization.")
    if invitation.accepted_at is not None:
        raise InvitationUsed("The invitation was already accepted; remove the member instead.")
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = utcnow()
    invitation.token_encrypted = None
    audit.record(
        session,
        AuditAction.INVITATION_REVOKED,
        Actor.of(principal),
        origin,
        target_type="invitation",
        target_id=invitation.id,
    )


def _invitation_email(
    invitation: Invitation, token: str, organization: str, inviter: str | None
) -> EmailMessage:
    settings = get_settings()
    link = settings.mail.invitation_url.replace("{token}", quote(token, safe=""))
    by = f"{inviter} invited you" if inviter else "You have been invited"
    expires = invitation.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"Hello,\n\n"
        f"{by} to join {organization} on {settings.app.name} as {invitation.role.value}.\n\n"
        f"Accept the invitation here:\n{link}\n\n"
        f"The link works once and expires on {expires}.\n"
        f"If you did not expect this invitation, you can ignore this e-mail.\n"
    )
    return mail.message(
        invitation.email,
        f"You are invited to join {organization}",
        body,
        key=f"invitation.{invitation.id}",
    )


async def send_invitation_email(session: AsyncSession, invitation_id: uuid.UUID) -> bool:
    """E-mail a new invitation's accept link to the invitee; True if a message was sent.

    Nothing is sent when mail is disabled, or for an invitation that is gone, accepted,
    withdrawn, expired or already mailed. After sending, the stored token is erased.
    Raises :class:`~ticketcreator.core.mail.MailUnavailable` when the server is unreachable.
    """
    if not get_settings().mail.enabled:
        return False
    invitation = await repository.get_invitation_with_token(session, invitation_id)
    if (
        invitation is None
        or invitation.token_encrypted is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        return False
    organization = await repository.get_organization(session, invitation.organization_id)
    inviter = (
        await repository.get_user(session, invitation.invited_by)
        if invitation.invited_by is not None
        else None
    )
    await mail.send(
        _invitation_email(
            invitation,
            invitation.token_encrypted,
            organization.name if organization is not None else "an organization",
            f"{inviter.name} <{inviter.email}>" if inviter is not None else None,
        )
    )
    invitation.token_encrypted = None
    return True


async def _open_invitation(session: AsyncSession, token: str) -> Invitation:
    invitation = await repository.find_invitation_by_token(session, hash_secret(token))
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("The invitation does not exist or was withdrawn.")
    if invitation.accepted_at is not None:
        raise InvitationUsed("The invitation was already used.")
    if invitation.expires_at <= utcnow():
        raise InvitationExpired("The invitation has expired; ask for a new one.")
    return invitation


async def _invitee(
    session: AsyncSession, invitation: Invitation, body: InvitationAccept, caller: Principal | None
) -> User:
    """The logged-in caller (whose e-mail must be the invited one), or a new account."""
    if caller is not None:
        user = await _user(session, _person(caller)[0])
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
    user = await _new_user(session, invitation.email, body.name, body.password)
    await _flush_unique(session)
    return user


async def accept_invitation(
    session: AsyncSession, body: InvitationAccept, caller: Principal | None, origin: Origin
) -> TokenPair:
    """Join the inviting organization (single use) and get a session there."""
    invitation = await _open_invitation(session, body.token)
    user = await _invitee(session, invitation, body, caller)
    if await repository.get_membership(session, invitation.organization_id, user.id):
        raise AlreadyMember("You are already a member of this organization.")
    if not await repository.claim_invitation(session, invitation.id):
        raise InvitationUsed("The invitation was already used.")
    await add_member(session, invitation.organization_id, user.id, invitation.role)
    pair = await _open_session(session, user.id, invitation.organization_id, origin)
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


# API keys


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


# Audit log


def _encode_cursor(entry: AuditEntry) -> str:
    raw = f"{entry.created_at.isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, entry_id = raw.partition("|")
        return datetime.fromisoformat(stamp), uuid.UUID(entry_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("The cursor is not one this API returned.") from None


async def audit_log(
    session: AsyncSession,
    principal: Principal,
    where: repository.AuditFilter,
    cursor: str | None,
    limit: int,
) -> AuditPage:
    after = _decode_cursor(cursor) if cursor else None
    entries = await repository.audit_page(
        session, principal.organization_id, where, after, limit + 1
    )
    page = list(entries[:limit])
    next_cursor = _encode_cursor(page[-1]) if len(entries) > limit else None
    return AuditPage(
        items=[AuditEntryOut.model_validate(entry) for entry in page], next_cursor=next_cursor
    )


# Administration (command line)


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
        organization = await new_organization(
            session, organization_name or organization_slug, organization_slug
        )
        await _flush_unique(session)
    user = await repository.get_user_by_email(session, email)
    new_user_created = user is None
    if user is None:
        minimum = get_settings().security.password_min_length
        if len(password) < minimum:
            raise UnprocessableEntity(f"The password must have at least {minimum} characters.")
        user = await _new_user(session, email, name, password)
        await _flush_unique(session)
    elif await repository.get_membership(session, organization.id, user.id) is not None:
        raise AlreadyMember(f"{user.email} is already a member of {organization.slug}.")
    await add_member(session, organization.id, user.id, role)
    return UserAdded(user, organization, new_user_created, new_organization_created)
