"""Invitations: inviting an e-mail address to an organization with a role, withdrawing the
invitation, e-mailing its single-use link, and opening it when the invitee comes back.

Accepting an invitation creates an account and a session: see
:func:`ticketcreator.accounts.flows.accept_invitation`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, timedelta
from email.message import EmailMessage
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.errors import (
    AlreadyMember,
    InvitationExpired,
    InvitationUsed,
    RoleNotAllowed,
)
from ticketcreator.accounts.models import Invitation
from ticketcreator.accounts.schemas import InvitationCreate, InvitationCreated, InvitationOut
from ticketcreator.accounts.tokens import hash_secret, new_secret
from ticketcreator.core import mail
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic, emit

# A recognisable prefix of the opaque token (it helps secret scanners), not a secret.
INVITATION_TOKEN_PREFIX = "tci"  # noqa: S105


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
    emit(
        session,
        Topic.INVITATION_CREATED,
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


async def open_invitation(session: AsyncSession, token: str) -> Invitation:
    invitation = await repository.find_invitation_by_token(session, hash_secret(token))
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("The invitation does not exist or was withdrawn.")
    if invitation.accepted_at is not None:
        raise InvitationUsed("The invitation was already used.")
    if invitation.expires_at <= utcnow():
        raise InvitationExpired("The invitation has expired; ask for a new one.")
    return invitation
