"""Account errors with their own problem ``type``, so clients can tell them apart."""

from __future__ import annotations

from ticketcreator.core.errors import AppError, Conflict, Forbidden, Unauthorized

_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="ticketcreator"'}


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    title = "Invalid e-mail or password"

    def __init__(self) -> None:
        super().__init__("The e-mail address or the password is wrong.", headers=_WWW_AUTHENTICATE)


class InvalidRefreshToken(Unauthorized):
    slug = "invalid-refresh-token"
    title = "Invalid refresh token"

    def __init__(self, detail: str = "The refresh token is unknown, expired or revoked.") -> None:
        super().__init__(detail, headers=_WWW_AUTHENTICATE)


class RefreshTokenReused(Unauthorized):
    slug = "refresh-token-reused"
    title = "Refresh token reused"

    def __init__(self) -> None:
        super().__init__(
            "This refresh token was already used. The whole session has been revoked as a "
            "precaution; log in again.",
            headers=_WWW_AUTHENTICATE,
        )


class WrongPassword(Forbidden):
    slug = "wrong-password"
    title = "Current password is wrong"


class RoleNotAllowed(Forbidden):
    slug = "role-not-allowed"
    title = "Role out of reach"


class NotAPerson(Forbidden):
    slug = "user-session-required"
    title = "A logged-in user is required"


class NoOrganization(Forbidden):
    slug = "no-organization"
    title = "No organization"


class LastOwner(Conflict):
    slug = "last-owner"
    title = "The last owner must stay"


class EmailTaken(Conflict):
    slug = "email-taken"
    title = "E-mail address already registered"


class SlugTaken(Conflict):
    slug = "slug-taken"
    title = "Organization slug already taken"


class AlreadyMember(Conflict):
    slug = "already-member"
    title = "Already a member"


class InvitationUsed(Conflict):
    slug = "invitation-used"
    title = "Invitation already used"


class InvitationExpired(AppError):
    status = 410
    slug = "invitation-expired"
    title = "Invitation expired"
