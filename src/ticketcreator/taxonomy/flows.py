"""Deleting organization configuration that tickets refer to. A category or team goes only
when no ticket is in it; a tag or custom field goes after the tickets that carry it change
(each records and announces it, through the tickets package)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.taxonomy import service
from ticketcreator.taxonomy.errors import InUse
from ticketcreator.tickets import history
from ticketcreator.tickets import service as tickets


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


async def delete_category(
    session: AsyncSession, principal: Principal, category_id: uuid.UUID
) -> None:
    category = await service.get_category(session, principal, category_id)
    count = await tickets.count_referring(
        session, principal.organization_id, category_id=category.id
    )
    if count:
        raise InUse(f"{count} ticket(s) are in this category; move them first.", tickets=count)
    await service.delete_category(session, principal, category)


async def delete_team(session: AsyncSession, principal: Principal, team_id: uuid.UUID) -> None:
    team = await service.get_team(session, principal, team_id)
    count = await tickets.count_referring(session, principal.organization_id, team_id=team.id)
    if count:
        raise InUse(f"{count} ticket(s) belong to this team; move them first.", tickets=count)
    await service.delete_team(session, principal, team)
