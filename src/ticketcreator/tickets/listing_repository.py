"""The ticket list's query: filters, full-text search with a bounded relevance window and
keyset pagination, within what :meth:`~ticketcreator.tickets.visibility.Visibility.tickets`
lets the caller see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
    ColumnElement,
    DateTime,
    RowMapping,
    Select,
    Subquery,
    Uuid,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import Priority, Source, Status, Ticket, TicketType, ticket_tag
from ticketcreator.tickets.repository import ticket_columns
from ticketcreator.tickets.visibility import Visibility


@dataclass(frozen=True)
class TicketFilters:
    status: Sequence[Status] = ()
    priority: Sequence[Priority] = ()
    type: Sequence[TicketType] = ()
    source: Sequence[Source] = ()
    category_id: Sequence[uuid.UUID] = ()
    team_id: Sequence[uuid.UUID] = ()
    reporter_id: Sequence[uuid.UUID] = ()
    assignee_id: Sequence[uuid.UUID] = ()
    unassigned: bool = False
    tag: Sequence[str] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    q: str | None = None
    deleted: bool = False
    within: Select[uuid.UUID] | None = None  # ids another part of the product picked


@dataclass(frozen=True)
class Keyset:
    """The sort of a list and, after the first page, the position to continue from."""

    field: str
    descending: bool
    value: Any = None
    after_id: uuid.UUID | None = None
    # Relevance only: (created_at, id) of the oldest candidate the first page ranked; later
    # pages rank the same candidates (see :func:`list_tickets`).
    window: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class TicketRows:
    """One page of tickets (rows of :func:`~.repository.ticket_columns`) with their rank (when
    searching), and the relevance window."""

    rows: list[tuple[RowMapping, float | None]]
    window: tuple[datetime, uuid.UUID] | None = None


# The ticket's and the tag's columns, not the mapped attributes: a page is read as rows (its
# tag names in the same statement), without the ORM's per-execution work.
_TICKET = Ticket.__table__.c
_TAG = Tag.__table__.c


def search_query(q: str, language: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(cast(literal(language), REGCONFIG), q)


def _sort_expression(field: str, rank: ColumnElement[Any] | None) -> ColumnElement[Any]:
    if field == "relevance":
        assert rank is not None
        return rank
    if field == "due_at":
        return func.coalesce(_TICKET.due_at, cast(literal("infinity"), DateTime(timezone=True)))
    column: ColumnElement[Any] = _TICKET[field]
    return column


def _cursor_value(field: str, value: Any) -> ColumnElement[Any]:
    if field in ("created_at", "updated_at", "due_at"):
        return cast(literal(str(value)), DateTime(timezone=True))
    if field == "relevance":
        return cast(literal(float(value)), REAL)
    if field == "priority":
        return literal(Priority(value), _TICKET.priority.type)
    return literal(int(value))


async def list_tickets(
    session: AsyncSession,
    visibility: Visibility,
    filters: TicketFilters,
    keyset: Keyset,
    limit: int,
    language: str,
    candidates: int,
) -> TicketRows:
    """One page of tickets with their search rank (when searching).

    Sorting by relevance ranks a bounded candidate window, not every match: the ``candidates``
    newest matches by ``(created_at, id)``. Ranking every match of a common word meant running
    ``ts_rank`` over hundreds of thousands of rows before the page was cut; the window keeps a
    search to one index walk and ``candidates`` rank computations, whatever the word.

    Trade-off: a match older than the newest ``candidates`` matches is never returned, however
    good it is (an old ticket with the words in its title loses to recent tickets that only
    mention them in a comment). Narrowing the search (more words, a filter, ``created_before``)
    brings older tickets into the window; the other sorts still return every match.

    The first page returns the window's oldest ``(created_at, id)`` and the cursor carries it,
    so later pages rank the same candidates (those at or after it, oldest first, at most
    ``candidates``): tickets created meanwhile do not push candidates out, so pages neither
    skip nor repeat. ``rank`` is exact ``real`` and ``(rank, id)`` is a strict total order.
    """
    conditions: list[ColumnElement[bool]] = [
        visibility.tickets(),
        _TICKET.deleted_at.is_not(None) if filters.deleted else _TICKET.deleted_at.is_(None),
    ]
    equal_to: tuple[tuple[Any, Sequence[Any]], ...] = (
        (_TICKET.status, filters.status),
        (_TICKET.priority, filters.priority),
        (_TICKET.type, filters.type),
        (_TICKET.source, filters.source),
        (_TICKET.category_id, filters.category_id),
        (_TICKET.team_id, filters.team_id),
        (_TICKET.reporter_id, filters.reporter_id),
    )
    for column, values in equal_to:
        if values:
            conditions.append(column.in_(values))
    assignee: list[ColumnElement[bool]] = []
    if filters.assignee_id:
        assignee.append(_TICKET.assignee_id.in_(filters.assignee_id))
    if filters.unassigned:
        assignee.append(_TICKET.assignee_id.is_(None))
    if assignee:
        conditions.append(or_(*assignee))
    if filters.tag:
        conditions.append(
            _TICKET.id.in_(
                select(ticket_tag.c.ticket_id)
                .join(Tag.__table__, _TAG.id == ticket_tag.c.tag_id)
                .where(
                    _TAG.organization_id == visibility.organization_id, _TAG.name.in_(filters.tag)
                )
            )
        )
    if filters.within is not None:
        conditions.append(_TICKET.id.in_(filters.within))
    ranges: tuple[tuple[Any, datetime | None, bool], ...] = (
        (_TICKET.created_at, filters.created_after, True),
        (_TICKET.created_at, filters.created_before, False),
        (_TICKET.updated_at, filters.updated_after, True),
        (_TICKET.updated_at, filters.updated_before, False),
    )
    for column, bound, after in ranges:
        if bound is not None:
            conditions.append(column >= bound if after else column < bound)
    rank: ColumnElement[Any] | None = None
    if filters.q:
        tsquery = search_query(filters.q, language)
        conditions.append(_TICKET.search_vector.op("@@")(tsquery))
        if keyset.field == "relevance":
            return await _ranked(session, conditions, tsquery, keyset, limit, candidates)
        rank = func.ts_rank(_TICKET.search_vector, tsquery)
    sort = _sort_expression(keyset.field, rank)
    if keyset.after_id is not None:
        position = tuple_(sort, _TICKET.id)
        bound_position = tuple_(
            _cursor_value(keyset.field, keyset.value), literal(keyset.after_id, Uuid)
        )
        conditions.append(
            position < bound_position if keyset.descending else position > bound_position
        )
    order = (
        (sort.desc(), _TICKET.id.desc()) if keyset.descending else (sort.asc(), _TICKET.id.asc())
    )
    rank_column = rank.label("rank") if rank is not None else literal(None, REAL).label("rank")
    query = select(*ticket_columns(), rank_column).where(*conditions).order_by(*order).limit(limit)
    rows = (await session.execute(query)).mappings().all()
    return TicketRows([(row, row["rank"]) for row in rows])


def _rank_order(rows: Subquery, descending: bool) -> tuple[ColumnElement[Any], ...]:
    if descending:
        return rows.c.rank.desc(), rows.c.id.desc()
    return rows.c.rank.asc(), rows.c.id.asc()


async def _ranked(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    tsquery: ColumnElement[Any],
    keyset: Keyset,
    limit: int,
    candidates: int,
) -> TicketRows:
    """A relevance page: rank the candidate window, cut the page, then load its tickets."""
    window = select(_TICKET.id, _TICKET.created_at, _TICKET.search_vector).where(*conditions)
    if keyset.window is None:
        window = window.order_by(_TICKET.created_at.desc(), _TICKET.id.desc())
    else:
        start_at, start_id = keyset.window
        start = tuple_(literal(start_at, DateTime(timezone=True)), literal(start_id, Uuid))
        window = window.where(tuple_(_TICKET.created_at, _TICKET.id) >= start).order_by(
            _TICKET.created_at.asc(), _TICKET.id.asc()
        )
    matches = window.limit(candidates).subquery("candidates")
    oldest = (matches.c.created_at.asc(), matches.c.id.asc())
    ranked = select(
        matches.c.id,
        func.ts_rank(matches.c.search_vector, tsquery).label("rank"),
        func.first_value(matches.c.created_at).over(order_by=oldest).label("window_at"),
        func.first_value(matches.c.id).over(order_by=oldest).label("window_id"),
    ).subquery("ranked")
    page = select(ranked)
    if keyset.after_id is not None:
        position = tuple_(ranked.c.rank, ranked.c.id)
        bound = tuple_(_cursor_value("relevance", keyset.value), literal(keyset.after_id, Uuid))
        page = page.where(position < bound if keyset.descending else position > bound)
    cut = page.order_by(*_rank_order(ranked, keyset.descending)).limit(limit).subquery("page")
    query = (
        select(*ticket_columns(), cut.c.rank, cut.c.window_at, cut.c.window_id)
        .select_from(Ticket.__table__.join(cut, _TICKET.id == cut.c.id))
        .order_by(*_rank_order(cut, keyset.descending))
    )
    rows = (await session.execute(query)).mappings().all()
    if not rows:
        return TicketRows([], keyset.window)
    window_start = keyset.window or (rows[0]["window_at"], rows[0]["window_id"])
    return TicketRows([(row, row["rank"]) for row in rows], window_start)
