"""An installation as the vendor modules see it (typed configuration and secrets, an open
connection), the principal a vendor acts as, and the sync log and health of an installation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import (
    Connection,
    Mappings,
    Provider,
    ProviderConfig,
    ProviderSecrets,
)
from ticketcreator.integrations.http import Budget, VendorClient
from ticketcreator.integrations.models import Installation, SyncLogEntry
from ticketcreator.integrations.registry import get_provider
from ticketcreator.tickets.actors import AutomatedPrincipal
from ticketcreator.tickets.models import ActorKind


def typed_config(provider: Provider, installation: Installation) -> Any:
    return provider.Config.model_validate(installation.config)


def typed_secrets(provider: Provider, installation: Installation) -> Any:
    return provider.Secrets.model_validate(json.loads(installation.secrets or "{}"))


def seal_secrets(secrets: ProviderSecrets) -> str:
    plain = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in secrets
        if value is not None
    }
    return json.dumps(plain, sort_keys=True)


def mappings_of(provider: Provider, config: ProviderConfig) -> Mappings:
    return config.mappings or provider.default_mappings()


def open_connection(session: AsyncSession, installation: Installation) -> Connection:
    """The installation as a vendor module sees it; the caller closes ``connection.http``."""
    provider = get_provider(installation.provider)
    budget = Budget(installation.id, get_settings().integrations.requests_per_minute)

    async def save_secrets(secrets: ProviderSecrets) -> None:
        installation.secrets = seal_secrets(secrets)
        await session.flush()

    return Connection(
        installation_id=installation.id,
        base_url=installation.base_url,
        config=typed_config(provider, installation),
        secrets=typed_secrets(provider, installation),
        http=VendorClient(installation.base_url, budget),
        save_secrets=save_secrets,
    )


def integration_principal(organization_id: uuid.UUID) -> AutomatedPrincipal:
    """A vendor acting on tickets: agent rights, recorded as the system."""
    return AutomatedPrincipal(
        organization_id=organization_id,
        role=Role.AGENT,
        permissions=ROLE_PERMISSIONS[Role.AGENT],
        actor_kind=ActorKind.SYSTEM,
    )


# Log and health


def record(
    session: AsyncSession,
    installation: Installation,
    action: str,
    outcome: str,
    *,
    direction: str = "outbound",
    ticket_id: uuid.UUID | None = None,
    external_id: str | None = None,
    detail: str | None = None,
    started: float | None = None,
) -> None:
    session.add(
        SyncLogEntry(
            id=uuid.uuid4(),
            organization_id=installation.organization_id,
            installation_id=installation.id,
            ticket_id=ticket_id,
            direction=direction,
            action=action,
            outcome=outcome,
            external_id=external_id,
            detail=detail[:2000] if detail else None,
            duration_ms=int((time.monotonic() - started) * 1000) if started is not None else None,
            created_at=utcnow(),
        )
    )


def mark_healthy(installation: Installation, lag_ms: int | None) -> None:
    installation.last_success_at = utcnow()
    installation.consecutive_failures = 0
    if lag_ms is not None:
        installation.last_lag_ms = lag_ms


async def mark_failed(session: AsyncSession, installation: Installation, error: str) -> None:
    installation.last_failure_at = utcnow()
    installation.last_error = error[:2000]
    installation.consecutive_failures += 1
    await repo.count_health(session, installation.id, "failures_total")
