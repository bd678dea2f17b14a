"""Request and response bodies of notification preferences."""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class NotifiableEvent(StrEnum):
    """What a person may be told about a ticket they report, are assigned to or watch."""

    CREATED = "ticket.created"
    UPDATED = "ticket.updated"  # fields other than status and assignee
    STATUS_CHANGED = "ticket.status_changed"
    ASSIGNED = "ticket.assigned"
    COMMENTED = "ticket.commented"
    DELETED = "ticket.deleted"
    RESTORED = "ticket.restored"


class Channel(StrEnum):
    """Where notifications go; more channels join as they are offered."""

    EMAIL = "email"


class Digest(StrEnum):
    OFF = "off"  # each ticket's changes in their own e-mail, after the coalescing window
    HOURLY = "hourly"  # one e-mail per hour with every ticket's changes
    DAILY = "daily"  # one e-mail per day, at the configured local hour


class QuietHours(BaseModel):
    """Local times (in the preferences' time zone) when nothing is sent; what comes up then
    is held until they end. An end before the start spans midnight."""

    model_config = ConfigDict(extra="forbid")

    start: time = Field(examples=["22:00"])
    end: time = Field(examples=["07:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are local times, without an offset")
        return self


class NotificationPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[NotifiableEvent] = Field(
        default_factory=lambda: list(NotifiableEvent),
        description="The ticket events to be notified of.",
    )
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL],
        description="Where notifications go; empty: nowhere.",
    )
    quiet_hours: QuietHours | None = None
    time_zone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of the quiet hours and the daily digest.",
        examples=["Europe/Berlin"],
    )
    digest: Digest = Digest.OFF

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name)") from None
        return value

    @field_validator("events", "channels")
    @classmethod
    def _unique(cls, value: list[StrEnum]) -> list[StrEnum]:
        return list(dict.fromkeys(value))

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class NotificationPreferencesRead(NotificationPreferences):
    source: Literal["member", "organization", "default"] = Field(
        description="Whose preferences these are: the member's own, the organization's "
        "defaults, or the product's."
    )
