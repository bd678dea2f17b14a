"""Request and response bodies of the integrations API (secrets are accepted, never returned)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

BaseUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProviderRead(BaseModel):
    key: str
    title: str
    default_base_url: str
    capabilities: list[str]
    config_schema: dict[str, Any] = Field(description="JSON Schema of `config`.")
    secrets_schema: dict[str, Any] = Field(description="JSON Schema of `secrets`.")
    default_mappings: dict[str, Any]


class InstallationCreate(_Input):
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    base_url: BaseUrl | None = Field(
        default=None, description="API root (GitHub Enterprise, Jira Data Center); vendor default."
    )
    enabled: bool = True
    config: dict[str, Any] = Field(description="The provider's `config_schema`.")
    secrets: dict[str, Any] = Field(description="The provider's `secrets_schema`; write-only.")


class InstallationUpdate(_Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    base_url: BaseUrl | None = None
    enabled: bool | None = None
    config: dict[str, Any] | None = Field(
        default=None, description="Keys sent replace the stored ones (validated as a whole)."
    )
    secrets: dict[str, Any] | None = Field(
        default=None, description="Keys sent replace the stored secrets; `null` removes one."
    )


class InstallationHealth(BaseModel):
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    failures_total: int
    rate_limit_waits: int
    last_lag_ms: int | None = Field(description="Change to vendor time of the last sync.")
    pending: int = Field(description="Tickets with changes not sent yet.")
    oldest_pending_s: float | None = Field(description="Age of the oldest unsent change.")


class InstallationRead(BaseModel):
    id: uuid.UUID
    provider: str
    name: str
    base_url: str
    enabled: bool
    config: dict[str, Any]
    secrets_set: list[str] = Field(description="Names of the secrets stored (values never shown).")
    webhook_path: str = Field(description="Where the vendor sends webhooks (relative to the API).")
    health: InstallationHealth
    created_at: datetime
    updated_at: datetime


class ConnectionTest(BaseModel):
    ok: bool
    account: str | None = None
    error: str | None = None


class LinkExternal(_Input):
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="`owner/repo#12` on GitHub, the issue key (`ACME-12`) on Jira."
    )


class SyncQueued(BaseModel):
    installation_id: uuid.UUID
    ticket_id: uuid.UUID
    queued: bool = True


class TicketLinkRead(_Output):
    id: uuid.UUID
    provider: str
    external_id: str
    url: str
    installation_id: uuid.UUID | None
    last_synced_version: int | None
    last_synced_at: datetime | None
    created_at: datetime


class TicketSyncRead(_Output):
    installation_id: uuid.UUID
    requested_at: datetime | None = Field(description="Unsent changes since (null: in sync).")
    attempts: int
    last_error: str | None


class TicketIntegrations(BaseModel):
    links: list[TicketLinkRead]
    syncs: list[TicketSyncRead]


class SyncLogRead(_Output):
    id: uuid.UUID
    ticket_id: uuid.UUID | None
    direction: str
    action: str
    outcome: str
    external_id: str | None
    detail: str | None
    duration_ms: int | None
    created_at: datetime


class SyncLogPage(BaseModel):
    items: list[SyncLogRead]
    next_cursor: str | None


class WebhookAccepted(BaseModel):
    accepted: bool = True
    duplicate: bool = Field(description="The vendor had sent this delivery before.")
