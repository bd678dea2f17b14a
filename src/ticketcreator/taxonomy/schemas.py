"""Request and response bodies of the organization configuration API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ticketcreator.taxonomy.models import FieldType

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=5000)]
TagName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=50, pattern=r"^[^\s,]+$"
    ),
]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CategoryCreate(_Input):
    name: Name
    description: Description = Field(
        default="", description="What belongs in this category; the AI triage reads it."
    )


class CategoryUpdate(_Input):
    name: Name | None = None
    description: Description | None = None


class CategoryRead(_Output):
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TeamCreate(_Input):
    name: Name
    description: Description = ""


class TeamUpdate(_Input):
    name: Name | None = None
    description: Description | None = None


class TeamRead(_Output):
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TeamMemberRead(BaseModel):
    user_id: uuid.UUID
    name: str
    email: str
    added_at: datetime


class CustomFieldCreate(_Input):
    key: FieldKey = Field(description="Stable key of the value in a ticket's `custom_fields`.")
    label: Name
    description: Description = ""
    type: FieldType
    options: list[Option] = Field(
        default_factory=list, max_length=200, description="Choices of a `select` field."
    )
    required: bool = False


class CustomFieldUpdate(_Input):
    label: Name | None = None
    description: Description | None = None
    options: list[Option] | None = Field(default=None, max_length=200)
    required: bool | None = None


class CustomFieldRead(_Output):
    id: uuid.UUID
    key: str
    label: str
    description: str
    type: FieldType
    options: list[str]
    required: bool
    created_at: datetime
    updated_at: datetime


class TagCreate(_Input):
    name: TagName


class TagRead(_Output):
    id: uuid.UUID
    name: str
    created_at: datetime
