"""Request and response bodies of the accounts API. Secrets appear only in the responses
that create them (token pairs, a new API key, a new invitation), never in listings."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    computed_field,
    field_validator,
)

from ticketcreator.accounts.permissions import API_KEY_SCOPES, Permission, Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow

_PASSWORD_MAX = 256
_SECRET_MAX = 200
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"


def _lower(value: str) -> str:
    return value.lower()


def _strong_enough(value: str) -> str:
    minimum = get_settings().security.password_min_length
    if len(value) < minimum:
        raise ValueError(f"must be at least {minimum} characters long")
    return value


def _ip_text(value: Any) -> Any:
    return str(value) if isinstance(value, IPv4Address | IPv6Address) else value


Email = Annotated[EmailStr, AfterValidator(_lower)]
NewPassword = Annotated[
    str,
    Field(max_length=_PASSWORD_MAX, description="At least `security.password_min_length` chars."),
    AfterValidator(_strong_enough),
]
Password = Annotated[str, Field(min_length=1, max_length=_PASSWORD_MAX)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, examples=["acme"])]
IpText = Annotated[str | None, BeforeValidator(_ip_text)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SignupRequest(_Body):
    email: Email
    name: Name
    password: NewPassword
    organization_name: Name
    organization_slug: Slug | None = Field(
        default=None, description="URL name of the organization; derived from its name if omitted."
    )


class LoginRequest(_Body):
    email: Email
    password: Password
    organization_id: uuid.UUID | None = Field(
        default=None, description="For members of several organizations; default: the first."
    )
    organization_slug: Slug | None = None


class RefreshRequest(_Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=_SECRET_MAX)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str = Field(description="Single use: each refresh returns a new one.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until the access token expires.")
    user_id: uuid.UUID
    organization_id: uuid.UUID


class PasswordChange(_Body):
    current_password: Password
    new_password: NewPassword


class OrganizationOut(_Out):
    id: uuid.UUID
    name: str
    slug: str


class MyOrganization(OrganizationOut):
    role: Role


class Me(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    organization: OrganizationOut
    role: Role
    permissions: list[Permission]


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str | None = Field(
        description="Null for other members when your role lacks `members:emails` and the "
        "organization does not show e-mail addresses to everyone "
        "(`member_emails_visible_to_all`)."
    )
    name: str
    role: Role
    joined_at: datetime


class OrganizationSettings(BaseModel):
    member_emails_visible_to_all: bool = Field(
        description="Whether every member (reporters and viewers too) sees the e-mail "
        "addresses of the others in the member list. Off by default: then only roles with "
        "`members:emails` (owners, admins, agents) see them; everyone sees their own."
    )


class OrganizationSettingsPatch(_Body):
    member_emails_visible_to_all: StrictBool | None = None


class MemberUpdate(_Body):
    role: Role


class InvitationCreate(_Body):
    email: Email
    role: Role = Role.AGENT


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class InvitationOut(_Out):
    id: uuid.UUID
    email: str
    role: Role
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= utcnow():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class InvitationCreated(InvitationOut):
    token: str = Field(
        description="Shown only in this response. No e-mail is sent yet: give the token to the "
        "invitee, who accepts it with `POST /v1/invitations/accept`."
    )


class InvitationAccept(_Body):
    token: Annotated[str, Field(min_length=1, max_length=_SECRET_MAX)]
    name: Name | None = Field(default=None, description="Required for a new account.")
    password: NewPassword | None = Field(default=None, description="Required for a new account.")


class ApiKeyCreate(_Body):
    name: Name
    scopes: Annotated[list[Permission], Field(min_length=1)]
    role: Role | None = Field(
        default=None, description="Role the key acts with; at most yours (default: yours)."
    )
    expires_at: datetime | None = None

    @field_validator("scopes")
    @classmethod
    def _grantable(cls, scopes: list[Permission]) -> list[Permission]:
        outside = sorted(set(scopes) - API_KEY_SCOPES)
        if outside:
            raise ValueError(
                "not available to API keys: "
                + ", ".join(outside)
                + "; allowed: "
                + ", ".join(sorted(API_KEY_SCOPES))
            )
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value <= utcnow()):
            raise ValueError("must be a future time with a time zone")
        return value


class ApiKeyOut(_Out):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="Public part of the key (`tck_<prefix>_...`), to recognise it.")
    scopes: list[Permission]
    role: Role
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown only in this response; store it safely.")


class AuditEntryOut(_Out):
    id: uuid.UUID
    action: str
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: IpText
    user_agent: str | None
    details: dict[str, Any]
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")
