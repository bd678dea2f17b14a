"""What a vendor module implements: a provider with small capability protocols.

A :class:`Provider` describes a vendor at class level (key, title, typed configuration and
secrets, default base URL, default mappings). Each capability is its own protocol, so a
vendor implements only what it supports and the sync engine asks ``isinstance`` before using
one: creating, finding and updating issues, commenting, attaching files, verifying and
parsing webhooks, checking the connection. Vendor calls receive a :class:`Connection` (one
installation's base URL, configuration, secrets and HTTP client) and exchange the neutral
types below, never ORM rows.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ticketcreator.integrations.http import VendorClient
from ticketcreator.tickets.models import Priority, Status

# Hidden marker in vendor text written by us: an echo of our own write is recognised by it.
MARKER_PREFIX = "ticketcreator:"


def marker(kind: str, ident: str) -> str:
    return f"{MARKER_PREFIX}{kind}:{ident}"


def hub_signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, the WebSub signature GitHub and Jira send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_hub_signature(header: str | None, body: bytes, secret: str, name: str) -> None:
    """Raise :class:`WebhookRejected` unless ``header`` signs ``body`` (constant-time)."""
    expected = hub_signature(body, secret).encode()
    if not header or not hmac.compare_digest(header.encode(), expected):
        raise WebhookRejected(f"{name} is missing or does not match")


class Mappings(BaseModel):
    """How ticket fields become vendor fields and back; validated so a round trip is defined.

    ``status_outbound`` names the vendor state for each of our statuses (all must be mapped);
    ``status_inbound`` names our status for each vendor state a ticket can be moved to from
    the vendor. A vendor state that is the outbound state of the ticket's current status is
    no change (closing an issue does not move a ``closed`` ticket back to ``resolved``).
    """

    model_config = ConfigDict(extra="forbid")

    status_outbound: dict[Status, str]
    status_inbound: dict[str, Status]
    priority: dict[Priority, str] = Field(
        default_factory=dict, description="Vendor priority name or label for each priority."
    )
    category_labels: dict[str, str] = Field(
        default_factory=dict, description="Category name → vendor label (default: the name)."
    )
    tags_as_labels: bool = True
    assignees: dict[uuid.UUID, str] = Field(
        default_factory=dict, description="Member user id → vendor account (login, accountId)."
    )

    @model_validator(mode="after")
    def _complete(self) -> Mappings:
        missing = [s.value for s in Status if s not in self.status_outbound]
        if missing:
            raise ValueError(f"status_outbound must map every status; missing {missing}")
        unknown = sorted(set(self.status_outbound.values()) - set(self.status_inbound))
        if unknown:
            raise ValueError(f"status_inbound must map the vendor states {unknown} back")
        return self

    def vendor_status(self, status: Status) -> str:
        return self.status_outbound[status]

    def ticket_status(self, current: Status, vendor_state: str) -> Status | None:
        """The status a vendor state moves the ticket to; None when it is no change."""
        if self.status_outbound[current].casefold() == vendor_state.casefold():
            return None
        for state, status in self.status_inbound.items():
            if state.casefold() == vendor_state.casefold():
                return status
        return None


class ProviderConfig(BaseModel):
    """Fields every provider's configuration has (non-secret; stored as JSON)."""

    model_config = ConfigDict(extra="forbid")

    sync_new_tickets: bool = Field(
        default=True, description="Every new ticket of the organization becomes an issue."
    )
    sync_comments: bool = Field(default=True, description="Public comments go both ways.")
    mappings: Mappings | None = Field(
        default=None, description="Field, label and status mappings (provider defaults if null)."
    )


class ProviderSecrets(BaseModel):
    """Secret fields (stored encrypted, never returned); each provider adds its own."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret the vendor signs webhooks with."
    )


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    content_type: str
    size: int
    url: str  # a signed link, for vendors without an upload API or files over their limit
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class IssueContent:
    """A ticket as the vendor should show it."""

    ticket_key: str
    marker: str
    title: str
    body_markdown: str
    body_fingerprint: str  # changes with the body's content, not with its links' expiry
    summary: CaptureSummaryText
    status: Status
    vendor_status: str
    priority: str | None
    labels: list[str]
    assignees: list[str]
    attachments: list[AttachmentFile] = field(default_factory=list)


@dataclass(frozen=True)
class CaptureSummaryText:
    """What the capture tells a developer, as plain lines (each vendor formats it)."""

    description: str
    facts: list[tuple[str, str]]  # (label, value): page, browser, OS, ...
    console_errors: list[str]
    failed_requests: list[str]
    transcript: str
    attachment_links: list[tuple[str, str]]  # (filename, signed URL)


@dataclass(frozen=True)
class RemoteIssue:
    external_id: str
    url: str
    state: dict[str, Any]  # what the vendor holds, as compared by the sync engine


@dataclass(frozen=True)
class InboundEvent:
    """A vendor webhook reduced to what the ticket side needs."""

    kind: Literal["status", "comment", "ignored"]
    external_issue_id: str | None = None
    vendor_status: str | None = None
    comment_id: str | None = None
    comment_body: str | None = None
    author: str | None = None
    from_us: bool = False  # written by this product (an echo): not applied again


@dataclass
class Connection:
    """One installation as a vendor module sees it."""

    installation_id: uuid.UUID
    base_url: str
    config: Any
    secrets: Any
    http: VendorClient
    save_secrets: Callable[[Any], Awaitable[None]]


class Provider(Protocol):
    key: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    Config: ClassVar[type[ProviderConfig]]
    Secrets: ClassVar[type[ProviderSecrets]]

    def default_mappings(self) -> Mappings: ...

    async def authenticate(self, connection: Connection) -> dict[str, str]:
        """Headers that authenticate a request (refreshing a token when needed)."""
        ...


@runtime_checkable
class ConnectionCheck(Protocol):
    async def check_connection(self, connection: Connection) -> str:
        """A short description of what the credentials reach; raises a VendorError."""
        ...


@runtime_checkable
class IssueCreator(Protocol):
    async def create_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue: ...

    async def find_issue(self, connection: Connection, content: IssueContent) -> RemoteIssue | None:
        """The issue an earlier, interrupted create made for this ticket, if any."""
        ...


@runtime_checkable
class IssueReader(Protocol):
    async def get_issue(self, connection: Connection, external_id: str) -> RemoteIssue: ...


@runtime_checkable
class IssueUpdater(Protocol):
    def desired_state(self, content: IssueContent) -> dict[str, Any]:
        """The remote state the ticket should have, comparable with ``RemoteIssue.state``."""
        ...

    async def update_issue(
        self,
        connection: Connection,
        external_id: str,
        content: IssueContent,
        changed: frozenset[str],
    ) -> dict[str, Any]:
        """Send the ``changed`` fields; returns the new remote state."""
        ...


@runtime_checkable
class Commenter(Protocol):
    async def add_comment(
        self, connection: Connection, external_id: str, body: str, marker: str
    ) -> str: ...

    async def find_comment(
        self, connection: Connection, external_id: str, marker: str
    ) -> str | None: ...


@runtime_checkable
class Attacher(Protocol):
    async def attach(
        self, connection: Connection, external_id: str, attachment: AttachmentFile
    ) -> bool:
        """Upload the file; False when it is over the vendor's limit (sent as a link)."""
        ...


@runtime_checkable
class WebhookSource(Protocol):
    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        """Raise :class:`WebhookRejected` unless the request is signed with ``secret``."""
        ...

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str: ...

    def webhook_event_name(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str: ...

    def parse_webhook(self, event: str, payload: dict[str, Any]) -> InboundEvent: ...


class WebhookRejected(Exception):
    """A webhook whose signature is missing, forged or stale."""
