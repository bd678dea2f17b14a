"""The facts rules look at: a ticket (read by the engine), or a draft sent to the dry-run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ticketcreator.routing.calendar import Hours
from ticketcreator.tickets.models import Priority, Source, TicketType

_TEXT_LIMIT = 20_000  # characters of title + description searched by text conditions


@dataclass
class Facts:
    """What conditions look at; actions of the rules that fired update it for the next."""

    category_id: str | None = None
    priority: str = Priority.NORMAL.value
    type: str = TicketType.BUG.value
    source: str = Source.API.value
    tags: set[str] = field(default_factory=set)
    language: str | None = None
    reporter_email: str | None = None
    text: str = ""
    page_urls: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    team_id: str | None = None
    now: datetime | None = None
    calendars: dict[str, Hours] = field(default_factory=dict)

    @cached_property
    def reporter_domain(self) -> str | None:
        if not self.reporter_email or "@" not in self.reporter_email:
            return None
        return self.reporter_email.rsplit("@", 1)[1].lower()

    # Read by every text and page URL condition: computed once per ticket, not per condition.
    @cached_property
    def searched_text(self) -> str:
        return self.text[:_TEXT_LIMIT]

    @cached_property
    def lowered_text(self) -> str:
        return self.searched_text.lower()

    @cached_property
    def lowered_urls(self) -> list[str]:
        return [url.lower() for url in self.page_urls]
