"""Request and response bodies of the webhook endpoints and of Slack."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketcreator.notifications.models import EndpointFormat

EventTypes = list[str]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamsBotSet(_Input):
    """A Teams bot's Microsoft Entra app and the conversation its cards go to."""

    app_id: str = Field(
        pattern=r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$",
        description="The bot's Microsoft App ID (its Entra app registration).",
    )
    app_secret: str = Field(
        min_length=1,
        max_length=256,
        description="A client secret of that app: stored encrypted, never returned.",
    )
    tenant_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$",
        description="The tenant that issues the bot's tokens: the tenant id of a single-tenant "
        "bot, or `botframework.com` for a multi-tenant one.",
    )
    conversation_id: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^[^\s/]+$",
        description="The Teams conversation the cards go to, e.g. a channel's "
        "`19:…@thread.tacv2` (the `conversation.id` of an activity the bot received there).",
    )


class TeamsBotRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    app_id: str
    tenant_id: str
    conversation_id: str


class WebhookCreate(_Input):
    url: str = Field(
        max_length=2000,
        description="Where events are POSTed (http or https); for `teams_bot`, the Bot Framework "
        "service URL of the conversation (the `serviceUrl` of an activity the bot received "
        "there, e.g. `https://smba.trafficmanager.net/amer/`).",
    )
    event_types: EventTypes = Field(
        min_length=1,
        description="Event types to send (see `GET /v1/webhooks/event-types`); `*` = all.",
    )
    description: str = Field(default="", max_length=500)
    format: EndpointFormat = Field(
        default=EndpointFormat.STANDARD,
        description="`standard` (signed JSON), `teams` (an Adaptive Card for a Microsoft Teams "
        "Workflows or incoming-webhook URL, a new card each time; ticket events only) or "
        "`teams_bot` (a Teams bot posts one card per ticket in a conversation and updates it "
        "as the ticket changes; ticket events only; give `teams_bot`).",
    )
    teams_bot: TeamsBotSet | None = Field(
        default=None, description="The bot and conversation of a `teams_bot` endpoint."
    )

    @model_validator(mode="after")
    def _bot_for_bot_endpoints(self) -> WebhookCreate:
        if (self.format == EndpointFormat.TEAMS_BOT) != (self.teams_bot is not None):
            raise ValueError("teams_bot is required with format teams_bot, and only with it")
        return self


class WebhookUpdate(_Input):
    url: str | None = Field(default=None, max_length=2000)
    event_types: EventTypes | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="`true` re-enables an endpoint disabled after failures."
    )
    teams_bot: TeamsBotSet | None = Field(
        default=None,
        description="A `teams_bot` endpoint's new bot or conversation (e.g. a new client "
        "secret). In another conversation or at another service URL, each ticket gets a new "
        "card at its next change.",
    )


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    format: EndpointFormat
    event_types: EventTypes
    teams_bot: TeamsBotRead | None = Field(
        description="A `teams_bot` endpoint's bot and conversation (never its secret)."
    )
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


# Slack

SlackChannel = Annotated[
    str, Field(pattern=r"^[CG][A-Z0-9]{2,39}$", description="A Slack channel id (`C…`, `G…`).")
]


class SlackConnectionSet(_Input):
    team_id: str = Field(
        pattern=r"^[TE][A-Z0-9]{2,31}$", description="The Slack workspace id (`T…`)."
    )
    bot_token: str | None = Field(
        default=None,
        pattern=r"^xox[bp]-[A-Za-z0-9-]{8,250}$",
        description="A bot token (`xoxb-…`, scope `chat:write`): messages are posted, then "
        "edited as the ticket changes. Give this or `webhook_url`.",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=500,
        description="An incoming-webhook URL: a message is posted when a ticket is created, "
        "and not edited after.",
    )
    signing_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=128,
        description="The app's signing secret: enables the buttons (their requests to "
        "`POST /v1/slack/interactions` are verified with it).",
    )

    @model_validator(mode="after")
    def _one_way_to_post(self) -> SlackConnectionSet:
        if (self.bot_token is None) == (self.webhook_url is None):
            raise ValueError("give exactly one of bot_token and webhook_url")
        return self


class SlackConnectionRead(BaseModel):
    team_id: str
    mode: str = Field(description="`bot` (posted, then edited) or `webhook` (posted once).")
    interactive: bool = Field(description="Whether a signing secret enables the buttons.")
    last_ok_at: datetime | None = Field(description="Slack last accepted a call.")
    last_error: str | None = Field(description="What Slack last refused, e.g. `not_in_channel`.")
    last_error_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SlackChannelSet(_Input):
    channel: SlackChannel


class SlackTeamChannelRead(BaseModel):
    team_id: uuid.UUID
    channel: str


class SlackUserLinkConfirm(_Input):
    token: str = Field(
        min_length=1,
        max_length=2000,
        description="The token of the link Slack showed the Slack user after a click.",
    )


class SlackUserLinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    team_id: str = Field(validation_alias="slack_team_id", description="The Slack workspace.")
    slack_user_id: str


class SlackLinkPending(BaseModel):
    """A confirmed link, made when the code arrives from the Slack user."""

    code: str = Field(description="Six digits to send to the app in Slack, as a direct message.")
    team_id: str = Field(description="The Slack workspace.")
    slack_user_id: str = Field(description="The Slack user who must send the code.")
    expires_at: datetime
    detail: str = Field(description="What to do next, to show the member.")


class SlackAnswer(BaseModel):
    """What Slack shows the person who clicked (only to them)."""

    response_type: str = "ephemeral"
    replace_original: bool = False
    text: str = ""
