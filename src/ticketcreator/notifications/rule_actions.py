"""The actions routing rules (and SLA escalations) may take to announce a ticket: ``notify``
on one of the organization's webhook endpoints (a Teams channel or a customer's system), and
``notify_slack`` in a Slack channel (its message there is then kept up to date)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.events import Topic, emit
from ticketcreator.notifications import repository, slack_repository
from ticketcreator.notifications.schemas import SlackChannel
from ticketcreator.routing.actions import ActionType, ExternalAction, Params
from ticketcreator.routing.errors import InvalidRule
from ticketcreator.tickets.models import Ticket


def _announce(session: AsyncSession, ticket: Ticket, reason: dict[str, Any], **target: str) -> None:
    """A ``routing.notify`` event in the routing's transaction, naming the rule and where to
    announce the ticket (a webhook endpoint or a Slack channel); the notifications worker
    sends it."""
    payload = {
        "ticket_id": str(ticket.id),
        **target,
        "rule_id": reason.get("rule_id"),
        "rule": reason.get("rule"),
    }
    emit(session, Topic.ROUTING_NOTIFY, payload, organization_id=ticket.organization_id)


class NotifyParams(Params):
    webhook_id: uuid.UUID


class NotifyWebhook(ExternalAction):
    key: ClassVar[str] = "notify"
    params: ClassVar[type[Params]] = NotifyParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        assert isinstance(params, NotifyParams)
        if await repository.endpoint(session, organization_id, params.webhook_id) is None:
            raise InvalidRule(f"{path}.webhook_id", "no such webhook")

    def describe(self, params: Params) -> str:
        assert isinstance(params, NotifyParams)
        return f"notify webhook {params.webhook_id}"

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        assert isinstance(params, NotifyParams)
        _announce(session, ticket, reason, webhook_id=str(params.webhook_id))


class NotifySlackParams(Params):
    channel: SlackChannel


class NotifySlack(ExternalAction):
    key: ClassVar[str] = "notify_slack"
    params: ClassVar[type[Params]] = NotifySlackParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        connection = await slack_repository.connection(session, organization_id)
        if connection is None or connection.bot_token is None:
            raise InvalidRule(f"{path}.channel", "Slack is not connected with a bot token")

    def describe(self, params: Params) -> str:
        assert isinstance(params, NotifySlackParams)
        return f"notify Slack channel {params.channel}"

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        assert isinstance(params, NotifySlackParams)
        _announce(session, ticket, reason, channel=params.channel)


def action_types() -> list[ActionType]:
    """The routing action types notifications offer (registered when a process loads)."""
    return [NotifyWebhook(), NotifySlack()]
