"""Deleting organization configuration that tickets carry: the tickets change first (each
records and announces it, through the tickets package), then the definition goes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.taxonomy import service
from ticketcreator.tickets import history


async def delete_tag(session: AsyncSession, principal: Principal, tag_id: uuid.UUID) -> None:
    tag = await service.get_tag(session, principal, tag_id)
    await history.untag_all(session, principal, tag.organization_id, tag.id, tag.name)
    await service.delete_tag(session, principal, tag)


async def delete_custom_field(
    session: AsyncSession, principal: Principal, field_id: uuid.UUID
) -> None:
    field = await service.get_custom_field(session, principal, field_id)
    await history.drop_field_everywhere(session, principal, field.organization_id, field.key)
    await service.delete_custom_field(session, principal, field)
