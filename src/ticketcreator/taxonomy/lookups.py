"""Reads of the organization configuration that other domains need (a ticket's category, team,
custom fields and tags; a member's role), scoped to an organization given by the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership
from ticketcreator.accounts.permissions import Role
from ticketcreator.taxonomy import repository
from ticketcreator.taxonomy.models import Category, CustomField, Tag, Team


async def exists_in(
    session: AsyncSession,
    model: type[Category] | type[Team],
    organization_id: uuid.UUID,
    id_: uuid.UUID,
) -> bool:
    query = select(exists().where(model.id == id_, model.organization_id == organization_id))
    return bool(await session.scalar(query))


async def custom_fields(
    session: AsyncSession, organization_id: uuid.UUID
) -> dict[str, CustomField]:
    fields = await repository.list_all(session, CustomField, organization_id, CustomField.key)
    return {field.key: field for field in fields}


async def member_role(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> Role | None:
    role: Role | None = await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return role


async def list_tags(
    session: AsyncSession, organization_id: uuid.UUID, prefix: str | None, limit: int
) -> Sequence[Tag]:
    query = select(Tag).where(Tag.organization_id == organization_id)
    if prefix:
        escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Tag.name.like(escaped + "%", escape="\\"))
    return (await session.scalars(query.order_by(Tag.name).limit(limit))).all()


async def category(
    session: AsyncSession, organization_id: uuid.UUID, category_id: uuid.UUID
) -> Category | None:
    return await repository.get(session, Category, organization_id, category_id)
