"""Request and response bodies of the tickets API."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from ticketcreator.taxonomy.schemas import TagName
from ticketcreator.tickets.models import (
    ActorKind,
    Priority,
    Source,
    Status,
    TicketType,
    ticket_key,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(max_length=50_000)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50_000)]
TicketRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
]
Tags = Annotated[list[TagName], Field(max_length=20)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TicketCreate(_Input):
    title: Title
    description: Text = ""
    priority: Priority = Priority.NORMAL
    type: TicketType = TicketType.BUG
    source: Source = Source.API
    category_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    reporter_id: uuid.UUID | None = Field(
        default=None,
        description="Who reported it (a member of the organization); defaults to the caller. "
        "Only callers with `tickets:write` may report on behalf of someone else.",
    )
    due_at: AwareDatetime | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)


class TicketUpdate(_Input):
    """Only the fields sent are changed; `null` clears an optional field."""

    title: Title | None = None
    description: Text | None = None
    status: Status | None = Field(
        default=None, description="Moves the ticket along its workflow (409 if not allowed)."
    )
    priority: Priority | None = None
    type: TicketType | None = None
    category_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    due_at: AwareDatetime | None = None
    custom_fields: dict[str, Any] | None = Field(
        default=None, description="Merged into the current values; `null` removes a value."
    )

    @field_validator("title", "description", "status", "priority", "type")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class TicketRead(_Output):
    id: uuid.UUID
    number: int
    key: str = Field(description="The human reference, `T-<number>`.")
    title: str
    description: str
    status: Status
    priority: Priority
    type: TicketType
    source: Source
    category_id: uuid.UUID | None
    team_id: uuid.UUID | None
    reporter_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    custom_fields: dict[str, Any]
    tags: list[str] = Field(validation_alias=AliasChoices("tag_names", "tags"))
    version: int = Field(description="Increases with every change; the `ETag` is derived from it.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TicketRead:
        """The ticket of a row of the ticket's columns with its ``tags``."""
        return cls.model_validate(_with_key(row))


def _with_key(row: Mapping[Any, Any]) -> dict[str, Any]:
    fields = dict(row)
    fields["key"] = ticket_key(row["number"])
    return fields


class TicketPage(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[Any, Any]], next_cursor: str | None) -> TicketPage:
        """The page of rows as :meth:`TicketRead.from_row` reads each, validated in one call
        (a call per ticket took half as long again: 169 against 110 µs for 25)."""
        return cls.model_validate(
            {"items": [_with_key(row) for row in rows], "next_cursor": next_cursor}
        )

    @classmethod
    def json_of_rows(cls, rows: Sequence[Mapping[str, Any]], next_cursor: str | None) -> bytes:
        """The page of rows (a ticket's columns, enumerations as text, with its ``tags``) as
        this model writes it in JSON (:meth:`from_rows`, then its serialiser), written straight
        from the rows: validating 25 rows into models and serialising those cost a page 120 µs
        of CPU, this 40. What orjson refuses (an integer past 64 bits in custom fields) goes
        the models' way."""
        items = [
            {name: ticket_key(row["number"]) if name == "key" else row[name] for name in _READ}
            for row in rows
        ]
        page = {"items": items, "next_cursor": next_cursor}
        try:
            return orjson.dumps(page, default=_row_value, option=orjson.OPT_UTC_Z)
        except TypeError:
            return cls.__pydantic_serializer__.to_json(cls.from_rows(rows, next_cursor))


_READ = tuple(TicketRead.model_fields)  # a ticket's fields, in the order its JSON has them


def _row_value(value: Any) -> str:
    """A value of a row orjson does not write itself: an id as asyncpg reads it (its own
    class of UUID)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a value of a ticket's row")


class AssigneeSet(_Input):
    assignee_id: uuid.UUID


class TagsAdd(_Input):
    tags: Annotated[list[TagName], Field(min_length=1, max_length=20)]


class BulkChanges(_Input):
    status: Status | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    category_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    add_tags: Tags = Field(default_factory=list)
    remove_tags: Tags = Field(default_factory=list)

    @field_validator("status", "priority", "type")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class BulkUpdate(_Input):
    tickets: list[TicketRef] = Field(
        min_length=1, description="Ticket ids or numbers (`T-12` or `12`), at most `bulk_max`."
    )
    changes: BulkChanges


class BulkResult(BaseModel):
    items: list[TicketRead]


class CommentCreate(_Input):
    body: Body
    internal: bool = Field(
        default=False, description="Internal notes are visible to the team only, never reporters."
    )


class CommentUpdate(_Input):
    body: Body


class CommentRead(_Output):
    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID | None
    author_api_key_id: uuid.UUID | None
    body: str
    internal: bool
    created_at: datetime
    updated_at: datetime
    edited_at: datetime | None


class CommentPage(BaseModel):
    items: list[CommentRead]
    next_cursor: str | None


class WatcherRead(_Output):
    user_id: uuid.UUID
    created_at: datetime


class LinkCreate(_Input):
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")] = Field(
        description="The vendor, e.g. `jira`, `github`, `zendesk`."
    )
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]


class LinkRead(_Output):
    id: uuid.UUID
    ticket_id: uuid.UUID
    provider: str
    external_id: str
    url: str
    created_at: datetime


class EventRead(_Output):
    id: uuid.UUID
    actor_user_id: uuid.UUID | None = Field(
        description="The user who made the change (for an API key, the user who created it); "
        "null when there was none or the user was deleted since."
    )
    actor_api_key_id: uuid.UUID | None = Field(
        description="The API key that made the change; null when there was none or the key "
        "was deleted since."
    )
    actor_kind: ActorKind = Field(
        description="Who made the change: `user` (a person), `api_key` (a machine client or the "
        "extension, through an API key), `ai` (AI triage applying a field it was confident "
        "about) or `system` (an automatic change). Unlike the ids, it stays when the user or "
        "key is deleted. Events recorded before this field existed were classified by their "
        "ids: `api_key`, else `user`, else `system` (the AI's earlier changes among them)."
    )
    kind: str
    field: str | None
    old: Any
    new: Any
    created_at: datetime


class TimelineEvent(BaseModel):
    type: Literal["event"] = "event"
    at: datetime
    event: EventRead


class TimelineComment(BaseModel):
    type: Literal["comment"] = "comment"
    at: datetime
    comment: CommentRead


TimelineItem = Annotated[TimelineEvent | TimelineComment, Field(discriminator="type")]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


SORT_PATTERN = r"^-?(created_at|updated_at|number|priority|due_at|relevance)$"


class TicketListQuery(BaseModel):
    """Filters of the ticket list; repeat a parameter to match any of several values."""

    model_config = ConfigDict(extra="forbid")

    # Empty-list defaults, not ``default_factory=list``: FastAPI asks a factory's signature on
    # every request that omits the parameter, and for a builtin that means parsing text.

    status: list[Status] = Field(default=[])
    priority: list[Priority] = Field(default=[])
    type: list[TicketType] = Field(default=[])
    source: list[Source] = Field(default=[])
    category_id: list[uuid.UUID] = Field(default=[])
    team_id: list[uuid.UUID] = Field(default=[])
    reporter_id: list[uuid.UUID] = Field(default=[])
    assignee: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        default=[], description="A user id, `me` or `none` (unassigned)."
    )
    tag: list[TagName] = Field(default=[])
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    updated_after: AwareDatetime | None = None
    updated_before: AwareDatetime | None = None
    q: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = Field(
        default=None,
        description="Full-text search over title, description and public comments "
        '(web search syntax: `"exact phrase"`, `-exclude`, `or`).',
    )
    sort: Annotated[str, StringConstraints(pattern=SORT_PATTERN)] | None = Field(
        default=None,
        description="Field to sort by, `-` for descending. Default: `-relevance` with `q`, "
        "else `-created_at`. `relevance` ranks the newest `search_candidates` matches "
        "(2,000 by default; narrow with more words, filters or `created_before` to reach "
        "older tickets), and a search's later pages keep the first page's candidates.",
    )
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = None
    limit: int | None = Field(
        default=None, ge=1, le=1000, description="Page size; capped at the configured maximum."
    )
    deleted: bool = Field(
        default=False, description="List the trash (soft-deleted tickets) instead; agents only."
    )
    sla: Literal["breached", "at_risk"] | None = Field(
        default=None,
        description="Tickets with an SLA target breached, or past its warning; agents only.",
    )
