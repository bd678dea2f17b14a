"""Request and response bodies of the webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ticketcreator.notifications.models import EndpointFormat

EventTypes = list[str]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Input):
    url: str = Field(max_length=2000, description="Where events are POSTed (http or https).")
    event_types: EventTypes = Field(
        min_length=1,
        description="Event types to send (see `GET /v1/webhooks/event-types`); `*` = all.",
    )
    description: str = Field(default="", max_length=500)
    format: EndpointFormat = Field(
        default=EndpointFormat.STANDARD,
        description="`standard` (signed JSON) or `teams` (an Adaptive Card for a Microsoft Teams "
        "Workflows or incoming-webhook URL; ticket events only).",
    )


class WebhookUpdate(_Input):
    url: str | None = Field(default=None, max_length=2000)
    event_types: EventTypes | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="`true` re-enables an endpoint disabled after failures."
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    format: EndpointFormat
    event_types: EventTypes
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The signing secret (`whsec_...`), shown only now: verify `webhook-signature`"
        " with it (Standard Webhooks)."
    )


class WebhookList(BaseModel):
    items: list[WebhookRead]


class EventTypeList(BaseModel):
    items: list[str]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The `webhook-id` header of every attempt.")
    event_id: uuid.UUID
    event_type: str
    status: str = Field(description="`pending`, `succeeded` or `failed`.")
    attempts: list[dict[str, Any]] = Field(
        description="Each attempt: `at`, `status_code` or `error`, `duration_ms`, `response`."
    )
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
