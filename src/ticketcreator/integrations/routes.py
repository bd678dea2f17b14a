"""REST API of integrations: /v1/integrations (providers, installations, sync, webhooks)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.core.pagination import InvalidCursor
from ticketcreator.integrations import flows, service, webhooks
from ticketcreator.integrations.errors import (
    AlreadyLinked,
    InstallationDisabled,
    InvalidConfiguration,
    UnknownProvider,
    WebhookTooLarge,
    WebhookUnauthorized,
)
from ticketcreator.integrations.schemas import (
    ConnectionTest,
    InstallationCreate,
    InstallationRead,
    InstallationUpdate,
    LinkExternal,
    ProviderRead,
    SyncLogPage,
    SyncQueued,
    TicketIntegrations,
    TicketLinkRead,
    WebhookAccepted,
)
from ticketcreator.tickets.deps import AgentTicket, CanWrite, ReadableTicket
from ticketcreator.tickets.errors import LinkExists

Reader = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_READ))]
Manager = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
TicketWriter = CanWrite
_AUTH = (Unauthorized, Forbidden)
router = APIRouter(prefix="/integrations", route_class=UnitOfWorkRoute, tags=["integrations"])


@router.get("/providers", response_model=list[ProviderRead], responses=documented(*_AUTH))
async def list_providers(principal: Reader) -> list[ProviderRead]:
    """The vendors that can be installed, with the JSON Schema of their configuration."""
    return service.catalog()


@router.get("", response_model=list[InstallationRead], responses=documented(*_AUTH))
async def list_installations(session: Session, principal: Reader) -> list[InstallationRead]:
    """The organization's installations with their sync health (secrets are never shown)."""
    return [
        await service.read(session, row)
        for row in await service.list_installations(session, principal)
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstallationRead,
    responses=documented(*_AUTH, UnknownProvider, InvalidConfiguration),
)
async def install(
    data: InstallationCreate, session: Session, principal: Manager
) -> InstallationRead:
    """Connect a vendor account (admins): typed configuration, secrets stored encrypted."""
    return await service.read(session, await service.install(session, principal, data))


@router.get(
    "/tickets/{ticket_ref}/links",
    response_model=TicketIntegrations,
    responses=documented(*_AUTH, NotFound),
)
async def ticket_links(ticket: ReadableTicket, session: Session) -> TicketIntegrations:
    """A ticket's external issues and its pending syncs."""
    return await service.ticket_integrations(session, ticket)


@router.get(
    "/{installation_id}", response_model=InstallationRead, responses=documented(*_AUTH, NotFound)
)
async def get_installation(
    installation_id: uuid.UUID, session: Session, principal: Reader
) -> InstallationRead:
    return await service.read(
        session, await service.get_installation(session, principal, installation_id)
    )


@router.patch(
    "/{installation_id}",
    response_model=InstallationRead,
    responses=documented(*_AUTH, NotFound, UnknownProvider, InvalidConfiguration),
)
async def configure(
    installation_id: uuid.UUID, data: InstallationUpdate, session: Session, principal: Manager
) -> InstallationRead:
    """Change the configuration, secrets, base URL or enabled flag (admins)."""
    installation = await service.configure(session, principal, installation_id, data)
    return await service.read(session, installation)


@router.delete(
    "/{installation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound),
)
async def uninstall(installation_id: uuid.UUID, session: Session, principal: Manager) -> None:
    """Remove the installation (admins); links stay on the tickets, unsynced."""
    await service.uninstall(session, principal, installation_id)


@router.post(
    "/{installation_id}/test",
    response_model=ConnectionTest,
    responses=documented(*_AUTH, NotFound, UnknownProvider),
)
async def test_connection(
    installation_id: uuid.UUID, session: Session, principal: Manager
) -> ConnectionTest:
    """Call the vendor with the stored credentials; `ok: false` says what it answered."""
    return await service.test_connection(session, principal, installation_id)


@router.get(
    "/{installation_id}/log",
    response_model=SyncLogPage,
    responses=documented(*_AUTH, NotFound, InvalidCursor),
)
async def sync_log(
    installation_id: uuid.UUID,
    session: Session,
    principal: Manager,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SyncLogPage:
    """What the sync did, newest first (admins)."""
    return await service.sync_log(session, principal, installation_id, cursor, limit)


@router.post(
    "/{installation_id}/tickets/{ticket_ref}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncQueued,
    responses=documented(*_AUTH, NotFound, InstallationDisabled),
)
async def sync_now(
    installation_id: uuid.UUID, ticket: AgentTicket, session: Session, principal: TicketWriter
) -> SyncQueued:
    """Send the ticket to the vendor now (creates the issue if it has none; retries a
    sync that gave up)."""
    await flows.sync_now(session, principal, installation_id, ticket)
    return SyncQueued(installation_id=installation_id, ticket_id=ticket.id)


@router.post(
    "/{installation_id}/tickets/{ticket_ref}/link",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketLinkRead,
    responses=documented(
        *_AUTH, NotFound, UnknownProvider, AlreadyLinked, LinkExists, InvalidConfiguration
    ),
)
async def link_existing(
    installation_id: uuid.UUID,
    ticket: AgentTicket,
    data: LinkExternal,
    session: Session,
    principal: TicketWriter,
) -> TicketLinkRead:
    """Link the ticket to an existing vendor issue; later changes sync both ways."""
    return await flows.link_existing(session, principal, installation_id, ticket, data.external_id)


@router.post(
    "/{provider}/webhook/{installation_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookAccepted,
    dependencies=[Depends(public)],
    responses=documented(
        NotFound, UnknownProvider, WebhookUnauthorized, WebhookTooLarge, InvalidConfiguration
    ),
)
async def webhook(
    provider: str, installation_id: uuid.UUID, request: Request, session: Session
) -> WebhookAccepted:
    """Vendor webhooks (public; authorized by the vendor's signature). Stored and answered
    at once, applied by the worker; a redelivery is accepted and ignored."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > get_settings().integrations.webhook_max_body:
        raise WebhookTooLarge("The webhook body is too large.")
    body = await request.body()
    stored = await webhooks.receive_webhook(
        session, provider, installation_id, request.headers, body
    )
    return WebhookAccepted(duplicate=not stored)
