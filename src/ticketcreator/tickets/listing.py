"""The ticket list: filters, search and sorting, one page at a time behind an opaque cursor."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import Forbidden
from ticketcreator.core.journal import json_value
from ticketcreator.core.pagination import InvalidCursor, decode_cursor, encode_cursor
from ticketcreator.core.reads import Row
from ticketcreator.tickets import listing_repository as repo
from ticketcreator.tickets.errors import InvalidQuery
from ticketcreator.tickets.listing_repository import Keyset, TicketFilters
from ticketcreator.tickets.schemas import TicketListQuery, TicketPage
from ticketcreator.tickets.service import visibility


async def list_tickets(
    principal: Principal,
    query: TicketListQuery,
    within: Select[uuid.UUID] | None = None,
) -> bytes:
    """A page of the tickets the caller may see that match ``query`` (and are among
    ``within``, ids chosen by another part of the product: the SLA state filter), in the JSON
    of :class:`TicketPage`."""
    settings = get_settings().tickets
    limit = min(query.limit or settings.page_size_default, settings.page_size_max)
    keyset = _keyset(query)
    listing = await repo.list_tickets(
        visibility(principal),
        _filters(principal, query, within),
        keyset,
        limit + 1,
        settings.search_language,
        settings.search_candidates,
    )
    rows = listing.rows
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last, rank = rows[-1]
        position = {
            "s": query.sort or ("-relevance" if query.q else "-created_at"),
            "v": _sort_value(keyset.field, last, rank),
            "i": str(last["id"]),
        }
        if listing.window is not None:
            # the relevance window: later pages rank the candidates this page ranked
            position["w"] = [listing.window[0].isoformat(), str(listing.window[1])]
        next_cursor = encode_cursor(position)
    return TicketPage.json_of_rows([row for row, _ in rows], next_cursor)


def _filters(
    principal: Principal, query: TicketListQuery, within: Select[uuid.UUID] | None
) -> TicketFilters:
    assignee_ids: list[uuid.UUID] = []
    unassigned = False
    for value in query.assignee:
        if value == "none":
            unassigned = True
        elif value == "me":
            assignee_ids.append(principal.user_id or uuid.UUID(int=0))
        else:
            try:
                assignee_ids.append(uuid.UUID(value))
            except ValueError:
                raise InvalidQuery(
                    f"assignee {value!r} is neither a user id, `me` nor `none`."
                ) from None
    if query.deleted and not principal.can(Permission.TICKETS_DELETE):
        raise Forbidden(
            "Listing deleted tickets needs `tickets:delete`.",
            required_permission=Permission.TICKETS_DELETE.value,
        )
    if query.sla and not principal.can(Permission.TICKETS_WRITE):
        raise Forbidden(
            "Filtering by SLA state needs `tickets:write`.",
            required_permission=Permission.TICKETS_WRITE.value,
        )
    return TicketFilters(
        status=query.status,
        priority=query.priority,
        type=query.type,
        source=query.source,
        category_id=query.category_id,
        team_id=query.team_id,
        reporter_id=query.reporter_id,
        assignee_id=assignee_ids,
        unassigned=unassigned,
        tag=query.tag,
        created_after=query.created_after,
        created_before=query.created_before,
        updated_after=query.updated_after,
        updated_before=query.updated_before,
        q=query.q,
        deleted=query.deleted,
        within=within,
    )


def _keyset(query: TicketListQuery) -> Keyset:
    sort = query.sort or ("-relevance" if query.q else "-created_at")
    field = sort.removeprefix("-")
    if field == "relevance" and not query.q:
        raise InvalidQuery("Sorting by relevance needs a search (`q`).")
    if query.cursor is None:
        return Keyset(field=field, descending=sort.startswith("-"))
    position = decode_cursor(query.cursor)
    try:
        if position["s"] != sort:
            raise InvalidCursor("The cursor belongs to a list with another sort order.")
        return Keyset(
            field=field,
            descending=sort.startswith("-"),
            value=position["v"],
            after_id=uuid.UUID(position["i"]),
            window=_window(position.get("w")) if field == "relevance" else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this API issued.") from exc


def _window(value: Any) -> tuple[datetime, uuid.UUID] | None:
    """The relevance window of a cursor: ``[created_at, id]`` of its oldest candidate."""
    if value is None:  # a cursor issued before relevance windows: rank a fresh window
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("bad window")
    start_at = datetime.fromisoformat(value[0])
    if start_at.tzinfo is None:
        raise ValueError("naive window")
    return start_at, uuid.UUID(value[1])


def _sort_value(field: str, ticket: Row, rank: float | None) -> Any:
    if field == "relevance":
        return rank
    if field == "due_at":
        due_at: datetime | None = ticket["due_at"]
        return due_at.isoformat() if due_at else "infinity"
    return json_value(ticket[field])
