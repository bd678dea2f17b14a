"""Queries of the organization configuration; every one is scoped to an organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache

from sqlalchemy import Select, Uuid, bindparam, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ticketcreator.accounts.models import User
from ticketcreator.core.db import utcnow
from ticketcreator.taxonomy.models import Category, CustomField, Tag, Team, TeamMember


async def get[Config: (Category, Team, CustomField, Tag)](
    session: AsyncSession, model: type[Config], organization_id: uuid.UUID, id_: uuid.UUID
) -> Config | None:
    return (
        await session.scalars(
            select(model).where(model.id == id_, model.organization_id == organization_id)
        )
    ).first()


async def list_all[Config: (Category, Team, CustomField, Tag)](
    session: AsyncSession,
    model: type[Config],
    organization_id: uuid.UUID,
    order: InstrumentedAttribute[str],
) -> Sequence[Config]:
    statement = _all_of(model, order)
    return (await session.scalars(statement, {"organization_id": organization_id})).all()


@cache
def _all_of[Config: (Category, Team, CustomField, Tag)](
    model: type[Config], order: InstrumentedAttribute[str]
) -> Select[Config]:
    """The statement of :func:`list_all`, built once per model: every create of a ticket runs
    it for the custom fields."""
    organization_id = bindparam("organization_id", type_=Uuid)
    return select(model).where(model.organization_id == organization_id).order_by(order)


async def name_taken(
    session: AsyncSession,
    model: type[Category] | type[Team],
    organization_id: uuid.UUID,
    name: str,
    except_id: uuid.UUID | None = None,
) -> bool:
    same_name = exists().where(
        model.organization_id == organization_id, func.lower(model.name) == name.lower()
    )
    if except_id is not None:
        same_name = same_name.where(model.id != except_id)
    return bool(await session.scalar(select(same_name)))


async def field_key_taken(session: AsyncSession, organization_id: uuid.UUID, key: str) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    CustomField.organization_id == organization_id, CustomField.key == key
                )
            )
        )
    )


async def team_members(
    session: AsyncSession, team_id: uuid.UUID
) -> Sequence[tuple[TeamMember, User]]:
    rows = await session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id)
        .order_by(User.name, User.id)
    )
    return [(member, user) for member, user in rows.all()]


async def add_team_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Add the member; False if they already were one."""
    result = await session.execute(
        insert(TeamMember)
        .values(team_id=team_id, user_id=user_id, added_at=utcnow())
        .on_conflict_do_nothing()
        .returning(TeamMember.user_id)
    )
    return result.first() is not None


async def remove_team_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(TeamMember)
        .where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        .returning(TeamMember.user_id)
    )
    return result.first() is not None


async def ensure_tags(
    session: AsyncSession, organization_id: uuid.UUID, names: Sequence[str]
) -> list[Tag]:
    """The organization's tags with these names, created when missing."""
    if not names:
        return []
    now = utcnow()
    await session.execute(
        insert(Tag)
        .values(
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": organization_id,
                    "name": n,
                    "created_at": now,
                }
                for n in sorted(set(names))
            ]
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "name"])
    )
    return list(
        (
            await session.scalars(
                select(Tag)
                .where(Tag.organization_id == organization_id, Tag.name.in_(names))
                .order_by(Tag.name)
            )
        ).all()
    )
