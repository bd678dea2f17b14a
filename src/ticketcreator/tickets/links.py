"""Links from a ticket to issues in other trackers (one link per external issue)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic
from ticketcreator.tickets import history
from ticketcreator.tickets import link_repository as repo
from ticketcreator.tickets.errors import LinkExists
from ticketcreator.tickets.models import ExternalLink, Ticket
from ticketcreator.tickets.schemas import LinkCreate


async def list_links(session: AsyncSession, ticket: Ticket) -> Sequence[ExternalLink]:
    return await repo.links(session, ticket)


async def add_link(
    session: AsyncSession, principal: Principal, ticket: Ticket, data: LinkCreate
) -> ExternalLink:
    existing = await repo.find_link(
        session, ticket.organization_id, data.provider, data.external_id
    )
    if existing is not None:
        raise LinkExists(
            f"{data.provider} issue {data.external_id!r} is already linked.",
            ticket_id=str(existing.ticket_id),
        )
    link = ExternalLink(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        provider=data.provider,
        external_id=data.external_id,
        url=data.url,
        created_at=utcnow(),
    )
    session.add(link)
    details = {"link_id": str(link.id), **data.model_dump()}
    history.record(session, principal, ticket, "linked", "external_links", None, details)
    history.publish(session, principal, ticket, Topic.TICKET_LINKED, **details)
    await session.flush()
    return link


async def remove_link(
    session: AsyncSession, principal: Principal, ticket: Ticket, link_id: uuid.UUID
) -> None:
    link = await repo.get_link(session, ticket, link_id)
    if link is None:
        raise NotFound("No such link on this ticket.")
    details = {
        "link_id": str(link.id),
        "provider": link.provider,
        "external_id": link.external_id,
        "url": link.url,
    }
    await session.delete(link)
    history.record(session, principal, ticket, "unlinked", "external_links", details, None)
    history.publish(session, principal, ticket, Topic.TICKET_UNLINKED, **details)
    await session.flush()
