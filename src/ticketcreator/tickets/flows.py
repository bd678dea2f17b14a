"""Ticket flows that reach into other domains.

Purging: the files of the ticket's captures (unless a capture of another ticket uses them
too) are erased with their texts, upload records and stored objects, then the ticket goes
with its rows and the content of its events (:func:`ticketcreator.tickets.service.purge`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.attachments import service as attachments
from ticketcreator.captures import service as captures
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.models import Ticket
from ticketcreator.uploads import service as uploads


async def purge_ticket(session: AsyncSession, principal: Principal, ticket: Ticket) -> None:
    only_here = await captures.attachments_only_of(session, ticket)
    erased = await attachments.erase(session, ticket.organization_id, only_here)
    await uploads.delete_records(session, erased)
    await tickets.purge(session, principal, ticket, erased)
