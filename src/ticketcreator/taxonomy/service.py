"""Organization configuration: categories, teams and their members, custom fields, tags.

Also validates a ticket's custom field values against the organization's definitions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.taxonomy import lookups
from ticketcreator.taxonomy import repository as repo
from ticketcreator.taxonomy.errors import (
    InvalidCustomFields,
    InvalidFieldDefinition,
    InvalidMember,
    NameTaken,
)
from ticketcreator.taxonomy.models import Category, CustomField, FieldType, Tag, Team
from ticketcreator.taxonomy.schemas import (
    CategoryCreate,
    CategoryUpdate,
    CustomFieldCreate,
    CustomFieldUpdate,
    TagCreate,
    TeamCreate,
    TeamMemberRead,
    TeamUpdate,
)

WORKING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})


def _announce(
    session: AsyncSession,
    principal: Principal,
    topic: Topic,
    obj: Category | Team | CustomField | Tag,
) -> None:
    emit(
        session,
        topic,
        {"id": str(obj.id), "actor_user_id": str(principal.user_id) if principal.user_id else None},
        organization_id=principal.organization_id,
    )


# Categories


async def get_category(session: AsyncSession, principal: Principal, id_: uuid.UUID) -> Category:
    category = await repo.get(session, Category, principal.organization_id, id_)
    if category is None:
        raise NotFound("No such category.")
    return category


async def list_categories(session: AsyncSession, principal: Principal) -> Sequence[Category]:
    return await repo.list_all(session, Category, principal.organization_id, Category.name)


async def create_category(
    session: AsyncSession, principal: Principal, data: CategoryCreate
) -> Category:
    if await repo.name_taken(session, Category, principal.organization_id, data.name):
        raise NameTaken(f"A category named {data.name!r} exists.")
    category = Category(
        organization_id=principal.organization_id, name=data.name, description=data.description
    )
    session.add(category)
    await session.flush()
    _announce(session, principal, Topic.CATEGORY_CREATED, category)
    return category


async def update_category(
    session: AsyncSession, principal: Principal, id_: uuid.UUID, data: CategoryUpdate
) -> Category:
    category = await get_category(session, principal, id_)
    if data.name is not None and await repo.name_taken(
        session, Category, principal.organization_id, data.name, except_id=category.id
    ):
        raise NameTaken(f"A category named {data.name!r} exists.")
    category.name = data.name if data.name is not None else category.name
    if data.description is not None:
        category.description = data.description
    await session.flush()
    _announce(session, principal, Topic.CATEGORY_UPDATED, category)
    return category


async def delete_category(session: AsyncSession, principal: Principal, category: Category) -> None:
    """Delete the category (the flow has checked that no ticket is in it)."""
    await session.delete(category)
    await session.flush()
    _announce(session, principal, Topic.CATEGORY_DELETED, category)


# Teams


async def get_team(session: AsyncSession, principal: Principal, id_: uuid.UUID) -> Team:
    team = await repo.get(session, Team, principal.organization_id, id_)
    if team is None:
        raise NotFound("No such team.")
    return team


async def list_teams(session: AsyncSession, principal: Principal) -> Sequence[Team]:
    return await repo.list_all(session, Team, principal.organization_id, Team.name)


async def create_team(session: AsyncSession, principal: Principal, data: TeamCreate) -> Team:
    if await repo.name_taken(session, Team, principal.organization_id, data.name):
        raise NameTaken(f"A team named {data.name!r} exists.")
    team = Team(
        organization_id=principal.organization_id, name=data.name, description=data.description
    )
    session.add(team)
    await session.flush()
    _announce(session, principal, Topic.TEAM_CREATED, team)
    return team


async def update_team(
    session: AsyncSession, principal: Principal, id_: uuid.UUID, data: TeamUpdate
) -> Team:
    team = await get_team(session, principal, id_)
    if data.name is not None and await repo.name_taken(
        session, Team, principal.organization_id, data.name, except_id=team.id
    ):
        raise NameTaken(f"A team named {data.name!r} exists.")
    team.name = data.name if data.name is not None else team.name
    if data.description is not None:
        team.description = data.description
    await session.flush()
    _announce(session, principal, Topic.TEAM_UPDATED, team)
    return team


async def delete_team(session: AsyncSession, principal: Principal, team: Team) -> None:
    """Delete the team (the flow has checked that no ticket belongs to it)."""
    await session.delete(team)
    await session.flush()
    _announce(session, principal, Topic.TEAM_DELETED, team)


async def team_members(
    session: AsyncSession, principal: Principal, id_: uuid.UUID
) -> list[TeamMemberRead]:
    team = await get_team(session, principal, id_)
    return [
        TeamMemberRead(user_id=user.id, name=user.name, email=user.email, added_at=m.added_at)
        for m, user in await repo.team_members(session, team.id)
    ]


async def add_team_member(
    session: AsyncSession, principal: Principal, id_: uuid.UUID, user_id: uuid.UUID
) -> list[TeamMemberRead]:
    team = await get_team(session, principal, id_)
    role = await lookups.member_role(session, principal.organization_id, user_id)
    if role not in WORKING_ROLES:
        raise InvalidMember(
            "Only owners, admins and agents of this organization can join a team.",
            user_id=str(user_id),
        )
    if await repo.add_team_member(session, team.id, user_id):
        _announce(session, principal, Topic.TEAM_UPDATED, team)
    return await team_members(session, principal, id_)


async def remove_team_member(
    session: AsyncSession, principal: Principal, id_: uuid.UUID, user_id: uuid.UUID
) -> None:
    team = await get_team(session, principal, id_)
    if not await repo.remove_team_member(session, team.id, user_id):
        raise NotFound("The user is not a member of this team.")
    _announce(session, principal, Topic.TEAM_UPDATED, team)


# Custom fields


def _check_definition(field_type: FieldType, options: Sequence[str]) -> None:
    if field_type is FieldType.SELECT and not options:
        raise InvalidFieldDefinition("A select field needs at least one option.")
    if field_type is not FieldType.SELECT and options:
        raise InvalidFieldDefinition("Only select fields have options.")
    if len(set(options)) != len(options):
        raise InvalidFieldDefinition("Options must be unique.")


async def get_custom_field(
    session: AsyncSession, principal: Principal, id_: uuid.UUID
) -> CustomField:
    field = await repo.get(session, CustomField, principal.organization_id, id_)
    if field is None:
        raise NotFound("No such custom field.")
    return field


async def list_custom_fields(session: AsyncSession, principal: Principal) -> Sequence[CustomField]:
    return await repo.list_all(session, CustomField, principal.organization_id, CustomField.key)


async def create_custom_field(
    session: AsyncSession, principal: Principal, data: CustomFieldCreate
) -> CustomField:
    _check_definition(data.type, data.options)
    if await repo.field_key_taken(session, principal.organization_id, data.key):
        raise NameTaken(f"A custom field with key {data.key!r} exists.")
    field = CustomField(organization_id=principal.organization_id, **data.model_dump())
    session.add(field)
    await session.flush()
    _announce(session, principal, Topic.CUSTOM_FIELD_CREATED, field)
    return field


async def update_custom_field(
    session: AsyncSession, principal: Principal, id_: uuid.UUID, data: CustomFieldUpdate
) -> CustomField:
    field = await get_custom_field(session, principal, id_)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    _check_definition(field.type, changes.get("options", field.options))
    for name, value in changes.items():
        setattr(field, name, value)
    await session.flush()
    _announce(session, principal, Topic.CUSTOM_FIELD_UPDATED, field)
    return field


async def delete_custom_field(
    session: AsyncSession, principal: Principal, field: CustomField
) -> None:
    """Delete the definition (the tickets' values are removed first, by the flow)."""
    await session.delete(field)
    await session.flush()
    _announce(session, principal, Topic.CUSTOM_FIELD_DELETED, field)


def _coerce(field: lookups.FieldDefinition, value: Any) -> tuple[Any, str | None]:
    """The stored form of ``value`` for ``field``, or an error message."""
    match field.type:
        case FieldType.TEXT:
            if isinstance(value, str) and len(value) <= 10_000:
                return value, None
            return None, "must be a text of at most 10000 characters"
        case FieldType.NUMBER:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value, None
            return None, "must be a number"
        case FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value, None
            return None, "must be true or false"
        case FieldType.DATE:
            try:
                return date.fromisoformat(value).isoformat(), None
            except (TypeError, ValueError):
                return None, "must be a date (YYYY-MM-DD)"
        case FieldType.SELECT:
            if value in field.options:
                return value, None
            return None, "must be one of: " + ", ".join(field.options)


def validate_custom_fields(
    definitions: Mapping[str, lookups.FieldDefinition],
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    creating: bool,
) -> dict[str, Any]:
    """``current`` with ``changes`` applied (``null`` removes a value), checked field by field.

    Every problem is reported at once. A required field needs a value when the ticket is
    created and cannot be cleared later.
    """
    result = dict(current)
    errors: list[dict[str, str]] = []
    for key, value in changes.items():
        field = definitions.get(key)
        if field is None:
            errors.append({"field": key, "message": "is not a custom field of this organization"})
        elif value is None:
            result.pop(key, None)
        else:
            stored, message = _coerce(field, value)
            if message is None:
                result[key] = stored
            else:
                errors.append({"field": key, "message": message})
    for key, field in definitions.items():
        if field.required and result.get(key) is None and (creating or key in changes):
            errors.append({"field": key, "message": "is required"})
    if errors:
        raise InvalidCustomFields(
            f"{len(errors)} custom field value(s) are invalid.", errors=errors
        )
    return result


# Tags


async def list_tags(
    session: AsyncSession, principal: Principal, prefix: str | None, limit: int
) -> Sequence[Tag]:
    return await lookups.list_tags(session, principal.organization_id, prefix, limit)


async def create_tag(session: AsyncSession, principal: Principal, data: TagCreate) -> Tag:
    (tag,) = await repo.ensure_tags(session, principal.organization_id, [data.name])
    return tag


async def ensure_tags(
    session: AsyncSession, principal: Principal, names: Sequence[str]
) -> list[Tag]:
    return await repo.ensure_tags(session, principal.organization_id, names)


async def get_tag(session: AsyncSession, principal: Principal, id_: uuid.UUID) -> Tag:
    tag = await repo.get(session, Tag, principal.organization_id, id_)
    if tag is None:
        raise NotFound("No such tag.")
    return tag


async def delete_tag(session: AsyncSession, principal: Principal, tag: Tag) -> None:
    """Delete the tag (the tickets carrying it record the removal first, by the flow)."""
    await session.delete(tag)
    await session.flush()
    _announce(session, principal, Topic.TAG_DELETED, tag)
