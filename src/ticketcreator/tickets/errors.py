"""Errors of the tickets API, each with a stable problem type."""

from __future__ import annotations

from ticketcreator.core.errors import (
    Conflict,
    PreconditionFailed,
    UnprocessableEntity,
)


class InvalidTransition(Conflict):
    slug = "invalid-transition"
    title = "The ticket cannot move to that status"


class StaleVersion(PreconditionFailed):
    slug = "stale-version"
    title = "The ticket changed since you read it"


class IdempotencyKeyReused(UnprocessableEntity):
    slug = "idempotency-key-reused"
    title = "The Idempotency-Key was used with a different request"


class InvalidReference(UnprocessableEntity):
    slug = "invalid-reference"
    title = "A referenced object does not exist in this organization"


class InvalidAssignee(UnprocessableEntity):
    slug = "invalid-assignee"
    title = "The assignee cannot work on tickets of this organization"


class BulkUpdateFailed(UnprocessableEntity):
    slug = "bulk-update-failed"
    title = "The bulk update was not applied"


class InvalidQuery(UnprocessableEntity):
    slug = "invalid-query"
    title = "The list parameters do not fit together"


class LinkExists(Conflict):
    slug = "link-exists"
    title = "That external issue is already linked to a ticket"


class InvalidWatcher(UnprocessableEntity):
    slug = "invalid-watcher"
    title = "That member cannot watch this ticket"
