"""Errors of the real-time stream (problem+json over SSE, close codes over WebSocket)."""

from __future__ import annotations

from ticketcreator.core.errors import AppError


class InvalidEventId(AppError):
    status = 400
    slug = "invalid-event-id"
    title = "Invalid last event id"


class SlowClient(AppError):
    """The client did not keep up: it is dropped and may resume from its last event id."""

    status = 408
    slug = "slow-client"
    title = "Client too slow"


class InvalidScope(AppError):
    status = 400
    slug = "invalid-stream-scope"
    title = "Invalid stream scope"
