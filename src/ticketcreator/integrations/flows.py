"""Syncing on request, across tickets and vendors: "sync to destination" (routing rules and
"sync now" use it) and linking a ticket to an issue that exists on the vendor. Each function
flushes and never commits; the push itself runs in the worker (:mod:`.sync`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.errors import NotFound
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import IssueReader, IssueUpdater
from ticketcreator.integrations.connection import mappings_of, open_connection, record, typed_config
from ticketcreator.integrations.content import issue_content
from ticketcreator.integrations.errors import (
    AlreadyLinked,
    InstallationDisabled,
    InvalidConfiguration,
)
from ticketcreator.integrations.http import VendorError
from ticketcreator.integrations.outbound import add_link
from ticketcreator.integrations.registry import get_provider
from ticketcreator.integrations.schemas import TicketLinkRead
from ticketcreator.integrations.service import get_installation
from ticketcreator.integrations.sync import request_sync
from ticketcreator.tickets.models import Ticket


async def sync_ticket(
    session: AsyncSession, installation_id: uuid.UUID, ticket_id: uuid.UUID
) -> None:
    """Sync one ticket to one installation ("sync to destination"), now and from then on.

    The installation must belong to the ticket's organization and be enabled; the work is
    queued when the caller commits. Raises NotFound or InstallationDisabled.
    """
    installation = await repo.installation_by_id(session, installation_id)
    organization_id = await repo.ticket_organization(session, ticket_id)
    if installation is None or organization_id != installation.organization_id:
        raise NotFound("No such integration installation or ticket.")
    if not installation.enabled:
        raise InstallationDisabled("The installation is disabled; enable it first.")
    await request_sync(session, installation, ticket_id, reset_attempts=True)


async def sync_now(
    session: AsyncSession, principal: Principal, installation_id: uuid.UUID, ticket: Ticket
) -> None:
    installation = await get_installation(session, principal, installation_id)
    await sync_ticket(session, installation.id, ticket.id)


async def link_existing(
    session: AsyncSession,
    principal: Principal,
    installation_id: uuid.UUID,
    ticket: Ticket,
    external_id: str,
) -> TicketLinkRead:
    """Link the ticket to an issue that exists on the vendor; later changes sync both ways.

    The issue is read first (404 from the vendor is a 404 here). It keeps its content: only
    changes made after linking are sent.
    """
    installation = await get_installation(session, principal, installation_id)
    if await repo.link_of(session, installation.id, ticket.id) is not None:
        raise AlreadyLinked("The ticket is already linked through this installation.")
    provider = get_provider(installation.provider)
    assert isinstance(provider, IssueReader)
    assert isinstance(provider, IssueUpdater)
    connection = open_connection(session, installation)
    try:
        remote = await provider.get_issue(connection, external_id)
    except VendorError as exc:
        if exc.status in (404, 410):
            raise NotFound(f"{installation.name} has no issue {external_id!r}.") from None
        raise InvalidConfiguration(f"The vendor answered: {exc}") from None
    finally:
        await connection.http.aclose()
    content = await issue_content(
        session, ticket, mappings_of(provider, typed_config(provider, installation))
    )
    link = await add_link(session, principal, installation, ticket, remote)
    link.remote_state = {**provider.desired_state(content), "status": remote.state.get("status")}
    link.last_synced_version = ticket.version
    record(
        session,
        installation,
        "link_issue",
        "ok",
        ticket_id=ticket.id,
        external_id=remote.external_id,
    )
    await session.flush()
    return TicketLinkRead.model_validate(link)
