"""Errors of the tickets API, each with a stable problem type."""

from __future__ import annotations

from typing import Any

from ticketcreator.core.errors import (
    AppError,
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


class InvalidCustomFields(UnprocessableEntity):
    slug = "invalid-custom-fields"
    title = "Custom field values do not match their definitions"


class InvalidCursor(UnprocessableEntity):
    slug = "invalid-cursor"
    title = "The pagination cursor is invalid"


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


def documented(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` naming every problem type a route may answer, per status."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    docs: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        doc = group[0].response_doc()
        doc["description"] = "; ".join(f"{e.title} (`{e.type_uri()}`)" for e in group)
        docs[status] = doc
    return docs
