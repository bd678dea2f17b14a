"""REST API of the organization configuration: /v1/categories, /teams, /custom-fields, /tags."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.taxonomy import flows, service
from ticketcreator.taxonomy.errors import InUse, InvalidFieldDefinition, InvalidMember, NameTaken
from ticketcreator.taxonomy.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    CustomFieldCreate,
    CustomFieldRead,
    CustomFieldUpdate,
    TagCreate,
    TagRead,
    TeamCreate,
    TeamMemberRead,
    TeamRead,
    TeamUpdate,
)

Reader = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_READ))]
Manager = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
TagReader = Annotated[Principal, Depends(Authorizer(Permission.TICKETS_READ))]
_AUTH = (Unauthorized, Forbidden)

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/categories",
    tags=["categories"],
    response_model=list[CategoryRead],
    responses=documented(*_AUTH),
)
async def list_categories(session: Session, principal: Reader) -> list[CategoryRead]:
    """The organization's ticket categories, by name."""
    rows = await service.list_categories(session, principal)
    return [CategoryRead.model_validate(row) for row in rows]


@router.post(
    "/categories",
    tags=["categories"],
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryRead,
    responses=documented(*_AUTH, NameTaken),
)
async def create_category(
    data: CategoryCreate, session: Session, principal: Manager
) -> CategoryRead:
    return CategoryRead.model_validate(await service.create_category(session, principal, data))


@router.get(
    "/categories/{category_id}",
    tags=["categories"],
    response_model=CategoryRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_category(category_id: uuid.UUID, session: Session, principal: Reader) -> CategoryRead:
    return CategoryRead.model_validate(await service.get_category(session, principal, category_id))


@router.patch(
    "/categories/{category_id}",
    tags=["categories"],
    response_model=CategoryRead,
    responses=documented(*_AUTH, NotFound, NameTaken),
)
async def update_category(
    category_id: uuid.UUID, data: CategoryUpdate, session: Session, principal: Manager
) -> CategoryRead:
    category = await service.update_category(session, principal, category_id, data)
    return CategoryRead.model_validate(category)


@router.delete(
    "/categories/{category_id}",
    tags=["categories"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound, InUse),
)
async def delete_category(category_id: uuid.UUID, session: Session, principal: Manager) -> None:
    """Delete a category no ticket refers to (409 otherwise)."""
    await flows.delete_category(session, principal, category_id)


@router.get("/teams", tags=["teams"], response_model=list[TeamRead], responses=documented(*_AUTH))
async def list_teams(session: Session, principal: Reader) -> list[TeamRead]:
    return [TeamRead.model_validate(row) for row in await service.list_teams(session, principal)]


@router.post(
    "/teams",
    tags=["teams"],
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    responses=documented(*_AUTH, NameTaken),
)
async def create_team(data: TeamCreate, session: Session, principal: Manager) -> TeamRead:
    return TeamRead.model_validate(await service.create_team(session, principal, data))


@router.get(
    "/teams/{team_id}",
    tags=["teams"],
    response_model=TeamRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_team(team_id: uuid.UUID, session: Session, principal: Reader) -> TeamRead:
    return TeamRead.model_validate(await service.get_team(session, principal, team_id))


@router.patch(
    "/teams/{team_id}",
    tags=["teams"],
    response_model=TeamRead,
    responses=documented(*_AUTH, NotFound, NameTaken),
)
async def update_team(
    team_id: uuid.UUID, data: TeamUpdate, session: Session, principal: Manager
) -> TeamRead:
    return TeamRead.model_validate(await service.update_team(session, principal, team_id, data))


@router.delete(
    "/teams/{team_id}",
    tags=["teams"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound, InUse),
)
async def delete_team(team_id: uuid.UUID, session: Session, principal: Manager) -> None:
    """Delete a team no ticket belongs to (409 otherwise)."""
    await flows.delete_team(session, principal, team_id)


@router.get(
    "/teams/{team_id}/members",
    tags=["teams"],
    response_model=list[TeamMemberRead],
    responses=documented(*_AUTH, NotFound),
)
async def list_team_members(
    team_id: uuid.UUID, session: Session, principal: Reader
) -> list[TeamMemberRead]:
    return await service.team_members(session, principal, team_id)


@router.put(
    "/teams/{team_id}/members/{user_id}",
    tags=["teams"],
    response_model=list[TeamMemberRead],
    responses=documented(*_AUTH, NotFound, InvalidMember),
)
async def add_team_member(
    team_id: uuid.UUID, user_id: uuid.UUID, session: Session, principal: Manager
) -> list[TeamMemberRead]:
    """Add an owner, admin or agent of the organization to the team; returns the members."""
    return await service.add_team_member(session, principal, team_id, user_id)


@router.delete(
    "/teams/{team_id}/members/{user_id}",
    tags=["teams"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound),
)
async def remove_team_member(
    team_id: uuid.UUID, user_id: uuid.UUID, session: Session, principal: Manager
) -> None:
    await service.remove_team_member(session, principal, team_id, user_id)


@router.get(
    "/custom-fields",
    tags=["custom-fields"],
    response_model=list[CustomFieldRead],
    responses=documented(*_AUTH),
)
async def list_custom_fields(session: Session, principal: Reader) -> list[CustomFieldRead]:
    rows = await service.list_custom_fields(session, principal)
    return [CustomFieldRead.model_validate(row) for row in rows]


@router.post(
    "/custom-fields",
    tags=["custom-fields"],
    status_code=status.HTTP_201_CREATED,
    response_model=CustomFieldRead,
    responses=documented(*_AUTH, NameTaken, InvalidFieldDefinition),
)
async def create_custom_field(
    data: CustomFieldCreate, session: Session, principal: Manager
) -> CustomFieldRead:
    """Define a ticket field; its key and type cannot change later."""
    field = await service.create_custom_field(session, principal, data)
    return CustomFieldRead.model_validate(field)


@router.get(
    "/custom-fields/{field_id}",
    tags=["custom-fields"],
    response_model=CustomFieldRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_custom_field(
    field_id: uuid.UUID, session: Session, principal: Reader
) -> CustomFieldRead:
    field = await service.get_custom_field(session, principal, field_id)
    return CustomFieldRead.model_validate(field)


@router.patch(
    "/custom-fields/{field_id}",
    tags=["custom-fields"],
    response_model=CustomFieldRead,
    responses=documented(*_AUTH, NotFound, InvalidFieldDefinition),
)
async def update_custom_field(
    field_id: uuid.UUID, data: CustomFieldUpdate, session: Session, principal: Manager
) -> CustomFieldRead:
    field = await service.update_custom_field(session, principal, field_id, data)
    return CustomFieldRead.model_validate(field)


@router.delete(
    "/custom-fields/{field_id}",
    tags=["custom-fields"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound),
)
async def delete_custom_field(field_id: uuid.UUID, session: Session, principal: Manager) -> None:
    """Delete the definition; its value is removed from every ticket (recorded on each)."""
    await flows.delete_custom_field(session, principal, field_id)


@router.get("/tags", tags=["tags"], response_model=list[TagRead], responses=documented(*_AUTH))
async def list_tags(
    session: Session,
    principal: TagReader,
    prefix: Annotated[str | None, Query(max_length=50, description="Name starts with.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TagRead]:
    """The organization's tags by name (for autocompletion: pass `prefix`)."""
    rows = await service.list_tags(session, principal, prefix, limit)
    return [TagRead.model_validate(row) for row in rows]


@router.post(
    "/tags",
    tags=["tags"],
    status_code=status.HTTP_201_CREATED,
    response_model=TagRead,
    responses=documented(*_AUTH),
)
async def create_tag(data: TagCreate, session: Session, principal: Manager) -> TagRead:
    """Create a tag (names are lower-cased); an existing tag of that name is returned as is."""
    return TagRead.model_validate(await service.create_tag(session, principal, data))


@router.delete(
    "/tags/{tag_id}",
    tags=["tags"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH, NotFound),
)
async def delete_tag(tag_id: uuid.UUID, session: Session, principal: Manager) -> None:
    """Delete a tag; it is removed from every ticket (recorded on each)."""
    await flows.delete_tag(session, principal, tag_id)
