"""Reads of the organization configuration that other domains need (a ticket's category, team,
custom fields and tags; a member's role), scoped to an organization given by the caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ScalarSelect,
    Select,
    String,
    Table,
    bindparam,
    exists,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Membership
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import reads
from ticketcreator.taxonomy import repository
from ticketcreator.taxonomy.models import Category, CustomField, FieldType, Tag, Team


async def exists_in(
    session: AsyncSession,
    model: type[Category] | type[Team],
    organization_id: uuid.UUID,
    id_: uuid.UUID,
) -> bool:
    query = select(exists().where(model.id == id_, model.organization_id == organization_id))
    return bool(await session.scalar(query))


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """What checking a ticket's value needs of a custom field's definition."""

    key: str
    type: FieldType
    options: Sequence[str]
    required: bool


async def custom_fields(
    session: AsyncSession, organization_id: uuid.UUID
) -> dict[str, FieldDefinition]:
    """The organization's custom fields by key. A ticket's create reads them before its
    transaction has written anything, so on the pool of plain connections
    (:func:`ticketcreator.core.reads.fetch_as_seen`)."""
    rows = await reads.fetch_as_seen(session, _definitions(), {"organization_id": organization_id})
    return definitions_of(rows)


def definitions_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, FieldDefinition]:
    """The custom fields by key of rows (or JSON objects) of ``key``, ``type``, ``options``
    and ``required``, as :func:`custom_fields` and :func:`definitions_json` give them."""
    return {
        row["key"]: FieldDefinition(
            row["key"], FieldType(row["type"]), row["options"], row["required"]
        )
        for row in rows
    }


@cache
def _definitions() -> Select[Any]:
    table = CustomField.__table__
    assert isinstance(table, Table)
    c = table.c
    organization = bindparam("organization_id", type_=c.organization_id.type)
    columns = (c.key, type_coerce(c.type, String).label("type"), c.options, c.required)
    # In key order: the problems of invalid values are reported in that order.
    return select(*columns).where(c.organization_id == organization).order_by(c.key)


@cache
def definitions_json() -> ScalarSelect[Any]:
    """In SQL, the custom fields of the organization (parameter ``organization_id``) as a
    JSON array of objects in key order, as :func:`definitions_of` reads them: for a
    statement that reads them along with something else, in the same round trip (a ticket's
    create, along with its ``Idempotency-Key``)."""
    table = CustomField.__table__
    assert isinstance(table, Table)
    c = table.c
    organization = bindparam("organization_id", type_=c.organization_id.type)
    each = func.json_build_object(
        "key", c.key, "type", c.type, "options", c.options, "required", c.required
    )
    array = func.coalesce(func.json_agg(aggregate_order_by(each, c.key)), text("'[]'::json"))
    return select(array).where(c.organization_id == organization).scalar_subquery()


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
