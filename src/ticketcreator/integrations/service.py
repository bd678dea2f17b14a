"""Integrations as the API and other domains use them: the provider catalog, installations
(install, configure, test), a ticket's links and syncs, the sync log, and the ticket events
that mark tickets as having changes. Syncing on request and linking: :mod:`.flows`; webhooks:
:mod:`.webhooks`. Every function here flushes and never commits (the caller's unit of work does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.pagination import decode_position, encode_position
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import (
    Attacher,
    Commenter,
    ConnectionCheck,
    IssueCreator,
    IssueReader,
    IssueUpdater,
    Provider,
    WebhookSource,
)
from ticketcreator.integrations.connection import (
    open_connection,
    record,
    seal_secrets,
)
from ticketcreator.integrations.errors import (
    InvalidConfiguration,
)
from ticketcreator.integrations.http import VendorError
from ticketcreator.integrations.models import Installation, SyncLogEntry
from ticketcreator.integrations.registry import PROVIDERS, get_provider
from ticketcreator.integrations.schemas import (
    ConnectionTest,
    InstallationCreate,
    InstallationHealth,
    InstallationRead,
    InstallationUpdate,
    ProviderRead,
    SyncLogPage,
    SyncLogRead,
    TicketIntegrations,
    TicketLinkRead,
    TicketSyncRead,
)
from ticketcreator.integrations.sync import request_sync
from ticketcreator.tickets.models import Ticket

_CAPABILITIES = {
    "create_issue": IssueCreator,
    "read_issue": IssueReader,
    "update_issue": IssueUpdater,
    "comment": Commenter,
    "attach": Attacher,
    "webhooks": WebhookSource,
    "test_connection": ConnectionCheck,
}


# Providers


def catalog() -> list[ProviderRead]:
    return [
        ProviderRead(
            key=provider.key,
            title=provider.title,
            default_base_url=provider.default_base_url,
            capabilities=[name for name, cap in _CAPABILITIES.items() if isinstance(provider, cap)],
            config_schema=provider.Config.model_json_schema(),
            secrets_schema=provider.Secrets.model_json_schema(),
            default_mappings=provider.default_mappings().model_dump(mode="json"),
        )
        for provider in PROVIDERS.values()
    ]


# Installations


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "location": ".".join(str(part) for part in error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_input=False, include_url=False)
    ]


def _validated(
    provider: Provider, config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """The configuration as stored, and the sealed secrets; 422 when invalid."""
    try:
        typed = provider.Config.model_validate(dict(config))
    except ValidationError as exc:
        raise InvalidConfiguration("`config` is invalid.", errors=_errors(exc)) from None
    try:
        typed_secrets = provider.Secrets.model_validate(dict(secrets))
    except ValidationError as exc:
        raise InvalidConfiguration("`secrets` is invalid.", errors=_errors(exc)) from None
    missing = provider.check_secrets(typed, typed_secrets)  # type: ignore[attr-defined]
    if missing:
        raise InvalidConfiguration(missing, errors=[{"location": "secrets", "message": missing}])
    return typed.model_dump(mode="json"), seal_secrets(typed_secrets)


async def get_installation(
    session: AsyncSession, principal: Principal, installation_id: uuid.UUID
) -> Installation:
    installation = await repo.installation(session, principal.organization_id, installation_id)
    if installation is None:
        raise NotFound("No such integration installation.")
    return installation


async def installed_in(
    session: AsyncSession, organization_id: uuid.UUID, installation_id: uuid.UUID
) -> bool:
    """Whether the installation belongs to the organization."""
    return await repo.installation(session, organization_id, installation_id) is not None


async def list_installations(session: AsyncSession, principal: Principal) -> Sequence[Installation]:
    return await repo.installations(session, principal.organization_id)


async def install(
    session: AsyncSession, principal: Principal, data: InstallationCreate
) -> Installation:
    provider = get_provider(data.provider)
    config, sealed = _validated(provider, data.config, data.secrets)
    now = utcnow()
    installation = Installation(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        provider=provider.key,
        name=data.name,
        base_url=(data.base_url or provider.default_base_url).rstrip("/"),
        enabled=data.enabled,
        config=config,
        secrets=sealed,
        created_by=principal.user_id,
        consecutive_failures=0,
        failures_total=0,
        rate_limit_waits=0,
        created_at=now,
        updated_at=now,
    )
    session.add(installation)
    await session.flush()
    return installation


async def configure(
    session: AsyncSession,
    principal: Principal,
    installation_id: uuid.UUID,
    data: InstallationUpdate,
) -> Installation:
    installation = await get_installation(session, principal, installation_id)
    provider = get_provider(installation.provider)
    config = {**installation.config, **(data.config or {})}
    secrets: dict[str, Any] = json.loads(installation.secrets or "{}")
    for key, value in (data.secrets or {}).items():
        if value is None:
            secrets.pop(key, None)
        else:
            secrets[key] = value
    installation.config, installation.secrets = _validated(provider, config, secrets)
    if data.name is not None:
        installation.name = data.name
    if data.base_url is not None:
        installation.base_url = data.base_url.rstrip("/")
    if data.enabled is not None:
        installation.enabled = data.enabled
    installation.updated_at = utcnow()
    await session.flush()
    return installation


async def uninstall(
    session: AsyncSession, principal: Principal, installation_id: uuid.UUID
) -> None:
    """Remove the installation; its links stay on the tickets as plain links."""
    installation = await get_installation(session, principal, installation_id)
    await session.delete(installation)
    await session.flush()


async def test_connection(
    session: AsyncSession, principal: Principal, installation_id: uuid.UUID
) -> ConnectionTest:
    installation = await get_installation(session, principal, installation_id)
    provider = get_provider(installation.provider)
    assert isinstance(provider, ConnectionCheck)
    connection = open_connection(session, installation)
    try:
        account = await provider.check_connection(connection)
    except VendorError as exc:
        record(session, installation, "test_connection", "failed", detail=str(exc))
        return ConnectionTest(ok=False, error=str(exc)[:500])
    finally:
        await connection.http.aclose()
    record(session, installation, "test_connection", "ok", detail=account)
    return ConnectionTest(ok=True, account=account)


async def read(session: AsyncSession, installation: Installation) -> InstallationRead:
    oldest = await repo.oldest_pending(session, installation.id)
    secrets = json.loads(installation.secrets or "{}")
    return InstallationRead(
        id=installation.id,
        provider=installation.provider,
        name=installation.name,
        base_url=installation.base_url,
        enabled=installation.enabled,
        config=installation.config,
        secrets_set=sorted(secrets),
        webhook_path=f"/v1/integrations/{installation.provider}/webhook/{installation.id}",
        health=InstallationHealth(
            last_success_at=installation.last_success_at,
            last_failure_at=installation.last_failure_at,
            last_error=installation.last_error,
            consecutive_failures=installation.consecutive_failures,
            failures_total=installation.failures_total,
            rate_limit_waits=installation.rate_limit_waits,
            last_lag_ms=installation.last_lag_ms,
            pending=await repo.pending_count(session, installation.id),
            oldest_pending_s=(utcnow() - oldest).total_seconds() if oldest else None,
        ),
        created_at=installation.created_at,
        updated_at=installation.updated_at,
    )


# Links, syncs and the sync log
async def ticket_integrations(session: AsyncSession, ticket: Ticket) -> TicketIntegrations:
    links = await repo.links_of_ticket(session, ticket.organization_id, ticket.id)
    syncs = await repo.syncs_of_ticket(session, ticket.organization_id, ticket.id)
    return TicketIntegrations(
        links=[TicketLinkRead.model_validate(link) for link in links],
        syncs=[TicketSyncRead.model_validate(s) for s in syncs],
    )


async def sync_log(
    session: AsyncSession,
    principal: Principal,
    installation_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> SyncLogPage:
    installation = await get_installation(session, principal, installation_id)
    after = decode_position(cursor)
    rows: Sequence[SyncLogEntry] = await repo.sync_log(session, installation, after, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_position(last.created_at, last.id)
    return SyncLogPage(
        items=[SyncLogRead.model_validate(row) for row in rows[:limit]], next_cursor=next_cursor
    )


# Events from the outbox


async def on_ticket_created(session: AsyncSession, message: dict[str, Any]) -> None:
    """A new ticket goes to every enabled installation that syncs new tickets."""
    organization_id = uuid.UUID(message["organization_id"])
    ticket_id = uuid.UUID(message["payload"]["ticket_id"])
    for installation in await repo.auto_sync_installations(session, organization_id):
        await request_sync(session, installation, ticket_id)


async def on_ticket_changed(session: AsyncSession, message: dict[str, Any]) -> None:
    """A changed or commented ticket is synced again wherever it is linked."""
    payload = message["payload"]
    if payload.get("internal"):
        return  # an internal note never leaves the product
    ticket_id = uuid.UUID(payload["ticket_id"])
    for installation in await repo.linked_installations(session, ticket_id):
        await request_sync(session, installation, ticket_id)
