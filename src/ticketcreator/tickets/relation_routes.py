"""REST API of who and what a ticket is tied to: its watchers and its vendor links."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import documented
from ticketcreator.tickets import links, watchers
from ticketcreator.tickets.deps import (
    TICKET_ERRORS,
    AgentTicket,
    CanRead,
    CanWrite,
    ReadableTicket,
)
from ticketcreator.tickets.errors import InvalidWatcher, LinkExists
from ticketcreator.tickets.schemas import (
    LinkCreate,
    LinkRead,
    WatcherRead,
)

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/{ticket_ref}/watchers",
    tags=["tickets"],
    response_model=list[WatcherRead],
    responses=documented(*TICKET_ERRORS),
)
async def list_watchers(ticket: ReadableTicket, session: Session) -> list[WatcherRead]:
    rows = await watchers.list_watchers(session, ticket)
    return [WatcherRead.model_validate(row) for row in rows]


@router.put(
    "/{ticket_ref}/watchers/{user_id}",
    tags=["tickets"],
    response_model=list[WatcherRead],
    responses=documented(*TICKET_ERRORS, InvalidWatcher),
)
async def add_watcher(
    ticket: ReadableTicket,
    user_id: uuid.UUID,
    session: Session,
    principal: CanRead,
) -> list[WatcherRead]:
    """Add a watcher (agents: anyone who can see the ticket; reporters: themselves)."""
    rows = await watchers.add_watcher(session, principal, ticket, user_id)
    return [WatcherRead.model_validate(row) for row in rows]


@router.delete(
    "/{ticket_ref}/watchers/{user_id}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*TICKET_ERRORS),
)
async def remove_watcher(
    ticket: ReadableTicket,
    user_id: uuid.UUID,
    session: Session,
    principal: CanRead,
) -> None:
    await watchers.remove_watcher(session, principal, ticket, user_id)


@router.get(
    "/{ticket_ref}/links",
    tags=["tickets"],
    response_model=list[LinkRead],
    responses=documented(*TICKET_ERRORS),
)
async def list_links(ticket: ReadableTicket, session: Session) -> list[LinkRead]:
    """The ticket's counterparts in vendor systems (Jira, GitHub, Zendesk, ...)."""
    rows = await links.list_links(session, ticket)
    return [LinkRead.model_validate(row) for row in rows]


@router.post(
    "/{ticket_ref}/links",
    tags=["tickets"],
    status_code=status.HTTP_201_CREATED,
    response_model=LinkRead,
    responses=documented(*TICKET_ERRORS, LinkExists),
)
async def add_link(
    ticket: AgentTicket,
    data: LinkCreate,
    session: Session,
    principal: CanWrite,
) -> LinkRead:
    """Link a vendor issue; one vendor issue belongs to at most one ticket."""
    return LinkRead.model_validate(await links.add_link(session, principal, ticket, data))


@router.delete(
    "/{ticket_ref}/links/{link_id}",
    tags=["tickets"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*TICKET_ERRORS),
)
async def remove_link(
    ticket: AgentTicket,
    link_id: uuid.UUID,
    session: Session,
    principal: CanWrite,
) -> None:
    await links.remove_link(session, principal, ticket, link_id)
