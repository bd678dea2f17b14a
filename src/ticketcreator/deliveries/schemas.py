"""Bodies of the event-deliveries API. Only the error's type is shown, not its text: the
text may name internals (hosts, buckets, statements); operators read it in the logs and in
``ticketcreator outbox list``."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class DeliveryState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class DeliveryRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    topic: str = Field(description="The event's topic, e.g. `attachment.processing`.")
    subscriber: str = Field(description="The subscriber task that handles it.")
    state: DeliveryState
    attempts: int = Field(description="Runs started (the last one may have been lost).")
    error_type: str | None = Field(description="Type of the last error, e.g. `ClientError`.")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending one runs again.")
    finished_at: datetime | None = Field(description="When it became done or dead.")


class DeliveryPage(BaseModel):
    counts: dict[DeliveryState, int] = Field(
        description="Deliveries of the organization's events per state (done ones are purged "
        "after the outbox retention)."
    )
    items: list[DeliveryRead]


class ReplayResult(BaseModel):
    replayed: int
