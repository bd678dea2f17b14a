"""Errors of the integrations API (problem+json types)."""

from __future__ import annotations

from ticketcreator.core.errors import AppError, NotFound


class UnknownProvider(NotFound):
    slug = "integration-unknown"
    title = "No such integration"


class InvalidConfiguration(AppError):
    status = 422
    slug = "integration-invalid-configuration"
    title = "The integration's configuration is invalid"


class ConnectionFailed(AppError):
    status = 502
    slug = "integration-connection-failed"
    title = "The vendor refused or did not answer"


class AlreadyLinked(AppError):
    status = 409
    slug = "integration-already-linked"
    title = "Already linked"


class InstallationDisabled(AppError):
    status = 409
    slug = "integration-disabled"
    title = "The installation is disabled"


class WebhookUnauthorized(AppError):
    status = 401
    slug = "integration-webhook-signature"
    title = "Webhook signature missing or invalid"


class WebhookTooLarge(AppError):
    status = 413
    slug = "integration-webhook-too-large"
    title = "Webhook body too large"
