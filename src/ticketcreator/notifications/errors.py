"""Errors of outgoing webhooks (problem+json)."""

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


class InvalidUnsubscribeLink(AppError):
    status = 404
    slug = "invalid-unsubscribe-link"
    title = "Unsubscribe link not valid"
