"""Request and response bodies of captures.

The network log is a subset of HAR 1.2 (what Chrome's DevTools and ``chrome.debugger``
produce) under its own field names; fields outside the subset, such as ``cookies``, are
dropped on arrival. Every list and text is bounded so one capture stays a few MB at most.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ticketcreator.attachments.schemas import AttachmentRead
from ticketcreator.captures.models import CaptureKind
from ticketcreator.tickets.models import Priority, TicketType
from ticketcreator.tickets.schemas import Tags, TicketRef
from ticketcreator.transcripts.schemas import AttachmentTextSummary

MAX_ATTACHMENTS = 20
MAX_CONSOLE_ENTRIES = 1000
MAX_NETWORK_ENTRIES = 1000
MAX_HEADERS = 100
MAX_STEPS = 500
MAX_BODY_CHARS = 64 * 1024

Url = Annotated[str, StringConstraints(max_length=8192)]
Short = Annotated[str, StringConstraints(max_length=1000)]
Message = Annotated[str, StringConstraints(max_length=10_000)]
BodyText = Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)]
Name = Annotated[str, StringConstraints(max_length=100)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=50_000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Har(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Software(_Input):
    name: Name = ""
    version: Name = ""


class Viewport(_Input):
    width: int = Field(ge=1, le=100_000)
    height: int = Field(ge=1, le=100_000)
    device_pixel_ratio: float = Field(default=1.0, gt=0, le=16)


class ConsoleEntry(_Input):
    level: Literal["debug", "log", "info", "warn", "error"]
    message: Message
    source: Url | None = Field(default=None, description="Script URL and line, if known.")
    timestamp: AwareDatetime


class HarPair(_Har):
    name: Annotated[str, StringConstraints(max_length=1000)]
    value: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)]


Pairs = Annotated[list[HarPair], Field(max_length=MAX_HEADERS)]


class HarPostData(_Har):
    mimeType: Short = ""
    text: BodyText | None = None
    params: Pairs = Field(default_factory=list)


class HarRequest(_Har):
    method: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    url: Url
    httpVersion: Name = ""
    headers: Pairs = Field(default_factory=list)
    queryString: Pairs = Field(default_factory=list)
    postData: HarPostData | None = None


class HarContent(_Har):
    size: int | None = Field(default=None, ge=-1)
    mimeType: Short = ""
    text: BodyText | None = None


class HarResponse(_Har):
    status: int = Field(ge=0, le=999)
    statusText: Short = ""
    httpVersion: Name = ""
    headers: Pairs = Field(default_factory=list)
    content: HarContent | None = None
    redirectURL: Url = ""


class HarTimings(_Har):
    """Milliseconds per phase; -1 where a phase does not apply (as in HAR)."""

    blocked: float = Field(default=-1, ge=-1)
    dns: float = Field(default=-1, ge=-1)
    connect: float = Field(default=-1, ge=-1)
    ssl: float = Field(default=-1, ge=-1)
    send: float = Field(default=0, ge=-1)
    wait: float = Field(default=0, ge=-1)
    receive: float = Field(default=0, ge=-1)


class HarEntry(_Har):
    startedDateTime: AwareDatetime
    time: float = Field(ge=-1, description="Total milliseconds.")
    request: HarRequest
    response: HarResponse
    timings: HarTimings = HarTimings()


class NetworkLog(_Har):
    version: Name = "1.2"
    entries: Annotated[list[HarEntry], Field(max_length=MAX_NETWORK_ENTRIES)] = Field(
        default_factory=list
    )


class UserStep(_Input):
    type: Literal["click", "input", "navigation", "submit", "keypress", "scroll"]
    selector: Short | None = None
    text: Short | None = Field(
        default=None, description="Visible label clicked, or the value typed (never passwords)."
    )
    url: Url | None = None
    timestamp: AwareDatetime


class CaptureTicket(_Input):
    """A new ticket for the capture; the title is made from the capture when left out."""

    title: Title | None = None
    description: Description = ""
    priority: Priority = Priority.NORMAL
    type: TicketType = TicketType.BUG
    category_id: uuid.UUID | None = None
    tags: Tags = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CaptureCreate(_Input):
    kind: CaptureKind
    attachment_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_ATTACHMENTS)] = (
        Field(description="Uploaded media (`/v1/uploads` or `/v1/attachments`), in order.")
    )
    page_url: Url = ""
    page_title: Short = ""
    user_agent: Short = ""
    browser: Software = Software()
    os: Software = Software()
    viewport: Viewport | None = None
    console: Annotated[list[ConsoleEntry], Field(max_length=MAX_CONSOLE_ENTRIES)] = Field(
        default_factory=list
    )
    network: NetworkLog = NetworkLog()
    steps: Annotated[list[UserStep], Field(max_length=MAX_STEPS)] = Field(default_factory=list)
    description: Description = ""
    ticket: CaptureTicket | None = Field(default=None, description="Create a new ticket.")
    ticket_id: TicketRef | None = Field(
        default=None,
        description="Attach to this existing ticket (id, `T-<number>` or number) instead.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> CaptureCreate:
        if (self.ticket is None) == (self.ticket_id is None):
            raise ValueError("give exactly one of `ticket` (a new ticket) or `ticket_id`")
        if len(set(self.attachment_ids)) != len(self.attachment_ids):
            raise ValueError("`attachment_ids` lists an attachment twice")
        return self


class CaptureSummary(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_key: str
    kind: CaptureKind
    page_url: str
    page_title: str
    description: str
    title_generated: bool = Field(description="The ticket's title was made from the capture.")
    attachments: list[AttachmentRead]
    texts: list[AttachmentTextSummary] = Field(
        description="Transcripts and screenshot text found so far (they arrive after processing)."
    )
    created_at: datetime


class CaptureRead(CaptureSummary):
    user_agent: str
    browser: Software
    os: Software
    viewport: Viewport | None
    console: list[ConsoleEntry]
    network: NetworkLog
    steps: list[UserStep]
    secrets_removed: dict[str, int] = Field(
        description="How many secrets were stripped before storage, by place "
        "(`headers`, `query`, `body`, `text`, `url`)."
    )


class CaptureLimits(BaseModel):
    """What the extension may record and upload for the caller's organization."""

    max_upload_size: int = Field(description="Largest resumable upload, in bytes.")
    max_recording_s: int = Field(description="Longest tab or screen recording, in seconds.")
    allowed_types: list[str] = Field(description="Content types accepted, sorted.")


class CaptureList(BaseModel):
    items: list[CaptureSummary]
