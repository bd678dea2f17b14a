"""Errors of outgoing webhooks and Slack (problem+json)."""

from __future__ import annotations

from ticketcreator.core.errors import AppError


class UnsafeUrl(AppError):
    status = 422
    slug = "unsafe-webhook-url"
    title = "Webhook URL not allowed"


class UnknownEventType(AppError):
    status = 422
    slug = "unknown-event-type"
    title = "Unknown event type"


class InvalidSlackConnection(AppError):
    status = 422
    slug = "invalid-slack-connection"
    title = "Invalid Slack connection"


class SlackSignatureInvalid(AppError):
    status = 401
    slug = "invalid-slack-signature"
    title = "Slack request not verified"


class SlackUserLinked(AppError):
    status = 409
    slug = "slack-user-linked"
    title = "Slack user already linked"


class InvalidSlackLink(AppError):
    status = 400
    slug = "invalid-slack-link"
    title = "Slack link not valid"


class InvalidUnsubscribeLink(AppError):
    status = 404
    slug = "invalid-unsubscribe-link"
    title = "Unsubscribe link not valid"


class NotABotEndpoint(AppError):
    status = 422
    slug = "not-a-bot-endpoint"
    title = "Not a Teams bot endpoint"
