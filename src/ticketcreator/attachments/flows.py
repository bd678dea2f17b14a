"""Who may read a file: a question for attachments, tickets and captures together."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.attachments import repository
from ticketcreator.attachments.models import Attachment
from ticketcreator.captures import service as captures
from ticketcreator.core.errors import NotFound
from ticketcreator.tickets import service as tickets


async def readable(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID
) -> Attachment:
    """An attachment the caller may see; any other is reported as not found.

    Those who see every ticket of the organization see all its files. Those who see only
    their own tickets (reporters) see the files they uploaded and the files of captures on
    tickets they may see, the same rule as for the tickets themselves.
    """
    attachment = await repository.get(session, principal.organization_id, attachment_id)
    if attachment is None:
        raise NotFound("No such attachment.")
    visibility = tickets.visibility(principal)
    uploader = (attachment.uploaded_by_user_id, attachment.uploaded_by_api_key_id)
    if (
        visibility.own_only
        and not principal.is_author(*uploader)
        and not await captures.on_visible_ticket(session, visibility, attachment.id)
    ):
        raise NotFound("No such attachment.")
    return attachment
