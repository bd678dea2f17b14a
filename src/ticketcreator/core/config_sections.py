"""The sections of the settings, one typed model per part of the service, with their defaults and
limits. Loading them (file, environment, precedence) is :mod:`ticketcreator.core.config`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)


def _has_token(value: str) -> str:
    if "{token}" not in value:
        raise ValueError("must contain {token}")
    return value


TokenUrl = Annotated[str, AfterValidator(_has_token)]
"""A link sent in an e-mail or a message, with ``{token}`` where the secret goes."""


def _has_tenant(value: str) -> str:
    if "{tenant}" not in value:
        raise ValueError("must contain {tenant}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSection(_Section):
    name: str = "AI Ticket Creator"
    environment: Literal["development", "test", "production"] = "development"
    public_base_url: str = "http://127.0.0.1:8000"


class ApiSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    cors_origin_regex: str | None = r"^chrome-extension://[a-p]{32}$"
    docs_enabled: bool = True
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    workers: int | None = Field(default=None, ge=1, le=256)
    principal_cache_s: float = Field(default=5.0, ge=0, le=5)


class DatabaseSection(_Section):
    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/ticketcreator"
    pool_size: int = Field(default=20, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout_s: float = Field(default=10.0, gt=0)
    read_pool_size: int = Field(default=10, ge=1, le=200)
    statement_timeout_ms: int = Field(default=30_000, ge=0)
    pool_pre_ping: bool = False
    pool_recycle_s: int = Field(default=1800, ge=-1)
    echo: bool = False
    idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)
    conflict_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql+asyncpg:// URL")
        return value


class RedisSection(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout_s: float = Field(default=2.0, gt=0)


class CelerySection(_Section):
    broker_url: str = "redis://127.0.0.1:6379/1"
    default_max_retries: int = Field(default=5, ge=0, le=100)
    retry_backoff_max_s: int = Field(default=600, ge=1)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    publish_timeout_s: float = Field(default=2.0, gt=0)
    imports: list[str] = Field(default_factory=list)
    task_time_limit_s: int = Field(default=3600, ge=10)


class OutboxSection(_Section):
    relay_interval_s: float = Field(default=5.0, gt=0)
    # An API process hands its committed events to a worker at most once per this interval
    # (the first at once): under load one message carries many requests' events. Each
    # message costs the API about half a millisecond of CPU; at 100 ms rather than 20, an API
    # busy with changes spent 7-10 % less CPU per request (bench/api.py, alternated runs),
    # and its events reach the workers at most 0.1 s later.
    handover_spacing_ms: float = Field(default=100.0, ge=0, le=1000)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    retention_days: int = Field(default=7, ge=1)
    redeliver_after_s: float = Field(default=60.0, gt=0)
    # A running delivery's claim; renewed every third of it while its subscriber runs.
    lease_s: float = Field(default=60.0, ge=1)
    retry_backoff_s: float = Field(default=10.0, gt=0)
    sweep_interval_s: float = Field(default=300.0, gt=0)
    attachments_stuck_after_s: float = Field(default=900.0, gt=0)
    attachments_max_requeues: int = Field(default=3, ge=0)


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = True


class ModelsSection(_Section):
    dir: Path = Path("var/models")


# Key ids travel in JWT headers and prefix encrypted values (``v1:<kid>:...``).
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class SecuritySection(_Section):
    jwt_signing_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev1": SecretStr("dev-only-jwt-signing-key-change-me-0123456789")}
    )
    jwt_active_kid: str = "dev1"
    jwt_issuer: str = "ticketcreator"
    jwt_audience: str = "ticketcreator-api"
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=300)
    invitation_ttl_s: int = Field(default=7 * 86_400, ge=300)
    password_min_length: int = Field(default=10, ge=8, le=128)
    encryption_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev1": SecretStr("dev-only-encryption-key-change-me-0123456789")}
    )
    encryption_active_kid: str = "dev1"

    @model_validator(mode="after")
    def _active_keys_exist(self) -> SecuritySection:
        if self.jwt_active_kid not in self.jwt_signing_keys:
            raise ValueError(f"jwt_active_kid {self.jwt_active_kid!r} is not in jwt_signing_keys")
        if self.encryption_active_kid not in self.encryption_keys:
            raise ValueError(
                f"encryption_active_kid {self.encryption_active_kid!r} is not in encryption_keys"
            )
        for kid, key in {**self.jwt_signing_keys, **self.encryption_keys}.items():
            if not _KEY_ID.fullmatch(kid):
                raise ValueError(f"key id {kid!r} must match {_KEY_ID.pattern}")
            if len(key.get_secret_value()) < 32:
                raise ValueError(f"key {kid!r} is shorter than 32 characters")
        return self


class RateLimitSection(_Section):
    enabled: bool = True
    failed_logins_per_account: int = Field(default=10, ge=1)
    auth_requests_per_ip: int = Field(default=30, ge=1)
    auth_window_s: int = Field(default=900, ge=1)
    refreshes_per_session: int = Field(default=30, ge=1)
    requests_per_principal: int = Field(default=600, ge=1)
    principal_window_s: int = Field(default=60, ge=1)


class TicketsSection(_Section):
    search_language: str = Field(default="english", pattern=r"^[a-z_]+$")
    page_size_default: int = Field(default=25, ge=1, le=1000)
    page_size_max: int = Field(default=100, ge=1, le=1000)
    bulk_max: int = Field(default=100, ge=1, le=1000)
    idempotency_ttl_h: int = Field(default=24, ge=1)
    search_candidates: int = Field(default=2000, ge=1, le=1_000_000)


MIB = 1024 * 1024

DEFAULT_ALLOWED_TYPES = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "audio/webm",
    "audio/ogg",
    "audio/mpeg",
    "audio/wav",
    "audio/mp4",
    "application/pdf",
    "application/zip",
    "text/plain",
    "text/csv",
    "application/json",
    "application/har+json",
]


class StorageSection(_Section):
    backend: Literal["local", "s3"] = "local"
    local_root: Path = Path("var/storage")
    s3_bucket: str = "ticketcreator"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_presign_ttl_s: int = Field(default=300, ge=1, le=7 * 86_400)
    s3_multipart_part_size: int = Field(default=8 * MIB, ge=5 * MIB, le=5 * 1024 * MIB)
    io_buffer_size: int = Field(default=1 * MIB, ge=4096, le=64 * MIB)
    signed_url_ttl_s: int = Field(default=900, ge=1)
    signed_url_max_ttl_s: int = Field(default=86_400, ge=1)


class UploadsSection(_Section):
    max_request_size: int = Field(default=25 * MIB, ge=1)
    max_upload_size: int = Field(default=4 * 1024 * MIB, ge=1)
    max_chunk_size: int = Field(default=1024 * MIB, ge=1)
    expiry_s: int = Field(default=86_400, ge=60)
    expire_interval_s: int = Field(default=3600, ge=10)
    lock_wait_s: float = Field(default=10.0, gt=0)
    allowed_types: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_TYPES))
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    max_concurrent_per_principal: int = Field(default=4, ge=1)
    max_recording_s: int = Field(default=1800, ge=1)


class TranscriptsSection(_Section):
    progress_min_duration_s: float = Field(default=60.0, ge=0)
    progress_step: float = Field(default=0.1, gt=0, le=1)


class MailSection(_Section):
    enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    from_address: str = "AI Ticket Creator <no-reply@localhost>"
    invitation_url: TokenUrl = "http://127.0.0.1:8000/v1/invitations/accept#token={token}"


class IntegrationsSection(_Section):
    http_timeout_s: float = Field(default=10.0, gt=0)
    http_connect_timeout_s: float = Field(default=5.0, gt=0)
    http_retries: int = Field(default=2, ge=0, le=10)
    http_backoff_s: float = Field(default=0.5, ge=0)
    requests_per_minute: int = Field(default=300, ge=1)
    default_rate_limit_wait_s: float = Field(default=60.0, gt=0)
    sync_lease_s: float = Field(default=120.0, gt=0)
    sweep_interval_s: float = Field(default=30.0, gt=0)
    reconcile_grace_s: float = Field(default=60.0, gt=0)
    reconcile_window_h: float = Field(default=24.0, gt=0)
    max_attempts: int = Field(default=12, ge=1)
    retry_backoff_max_s: float = Field(default=300.0, gt=0)
    webhook_max_body: int = Field(default=5 * MIB, ge=1024)


class RoutingSection(_Section):
    default_capacity: int = Field(default=10, ge=0, le=10_000)
    candidate_limit: int = Field(default=20, ge=1, le=1000)
    warn_share: float = Field(default=0.8, gt=0, lt=1)
    sla_check_interval_s: int = Field(default=60, ge=5)
    sla_check_batch: int = Field(default=500, ge=1, le=100_000)


class RealtimeSection(_Section):
    retention_s: int = Field(default=86_400, ge=60)
    max_stream_length: int = Field(default=100_000, ge=100)
    queue_size: int = Field(default=1000, ge=1)
    heartbeat_s: float = Field(default=15.0, gt=0)
    reauth_interval_s: float = Field(default=60.0, gt=0)
    reauth_batch: int = Field(default=500, ge=1, le=10_000)
    auth_timeout_s: float = Field(default=5.0, gt=0)
    send_timeout_s: float = Field(default=10.0, gt=0)
    replay_page: int = Field(default=500, ge=1, le=10_000)


class WebhooksSection(_Section):
    allow_private_addresses: bool = False
    timeout_s: float = Field(default=10.0, gt=0)
    retry_base_s: float = Field(default=5.0, gt=0)
    retry_max_delay_s: float = Field(default=3 * 3600.0, gt=0)
    retry_window_s: int = Field(default=86_400, ge=1)
    retry_sweep_interval_s: float = Field(default=30.0, gt=0)
    disable_after_failures: int = Field(default=20, ge=1)
    disable_after_s: int = Field(default=5 * 86_400, ge=0)
    response_log_bytes: int = Field(default=2048, ge=0, le=65_536)
    teams_coalesce_window_s: float = Field(default=60.0, gt=0)
    teams_bot_update_interval_s: float = Field(default=10.0, gt=0)
    teams_login_url: Annotated[str, AfterValidator(_has_tenant)] = (
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    )


class SlackSection(_Section):
    api_base_url: str = "https://slack.com/api"
    webhook_url_prefix: str = "https://hooks.slack.com/"
    update_interval_s: float = Field(default=10.0, ge=0)
    signature_max_age_s: int = Field(default=300, ge=1, le=3600)
    requests_per_minute: int = Field(default=50, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    link_url: TokenUrl = "http://127.0.0.1:8000/slack/link#token={token}"
    link_ttl_s: int = Field(default=600, ge=60, le=3600)


class EmailNotificationsSection(_Section):
    coalesce_window_s: float = Field(default=60.0, gt=0)
    sweep_interval_s: float = Field(default=60.0, gt=0)
    resend_after_s: float = Field(default=600.0, gt=0)
    daily_digest_hour: int = Field(default=8, ge=0, le=23)
    unsubscribe_url: TokenUrl = "http://127.0.0.1:8000/v1/notifications/unsubscribe?token={token}"
    unsubscribe_mailto: str | None = None
    ticket_url: str = "http://127.0.0.1:8000/v1/tickets/{key}"
