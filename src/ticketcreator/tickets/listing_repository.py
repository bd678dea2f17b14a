"""The ticket list's query: filters, full-text search with a bounded relevance window and
keyset pagination, within what :meth:`~ticketcreator.tickets.visibility.Visibility.tickets`
lets the caller see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    REAL,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import REGCONFIG

from ticketcreator.core import reads
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import Priority, Source, Status, Ticket, TicketType, ticket_tag
from ticketcreator.tickets.repository import ticket_columns
from ticketcreator.tickets.visibility import Visibility, tickets_rule


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
    # ids another part of the product picked, by a statement built once whose parameters are
    # the list's own (the organization as ``visible_organization``)
    within: Select[uuid.UUID] | None = None


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

    rows: list[tuple[reads.Row, float | None]]
    window: tuple[datetime, uuid.UUID] | None = None


# The ticket's and the tag's columns, not the mapped attributes: a page is read as rows (its
# tag names in the same statement), without the ORM's per-execution work.
_TICKET = Ticket.__table__.c
_TAG = Tag.__table__.c

# The filters matched by equality; each is the bound parameter of its name.
_EQUAL = ("status", "priority", "type", "source", "category_id", "team_id", "reporter_id")
# The time ranges: the bound parameter, its column, and whether it is the lower bound.
_RANGES = (
    ("created_after", "created_at", True),
    ("created_before", "created_at", False),
    ("updated_after", "updated_at", True),
    ("updated_before", "updated_at", False),
)
_DATES = frozenset({"created_at", "updated_at", "due_at"})
# The filters whose values are bound parameters of the same name (see :func:`_values`).
_FILTERS = frozenset({*_EQUAL, *(name for name, _, _ in _RANGES), "assignee_id", "tag", "q"})


@dataclass(frozen=True)
class _Shape:
    """What a list's statement depends on besides its values: the filters given (by name,
    plus ``unassigned``), the sort, and whether the page continues after a position and, for
    relevance, within an earlier page's candidate window."""

    own_only: bool
    deleted: bool
    given: frozenset[str]
    field: str
    descending: bool
    after: bool
    window: bool


async def list_tickets(
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
    values = _values(visibility, filters, keyset, limit, language, candidates)
    given = values.keys() & _FILTERS
    if filters.unassigned:
        given.add("unassigned")
    shape = _Shape(
        own_only=visibility.own_only,
        deleted=filters.deleted,
        given=frozenset(given),
        field=keyset.field,
        descending=keyset.descending,
        after=keyset.after_id is not None,
        window=keyset.window is not None,
    )
    # Built once per shape, its values bound: building a list's statement and its cache key
    # anew cost an eighth of the list's CPU. Run on the read pool (:mod:`core.reads`).
    rows = await reads.fetch(_statement(shape, filters.within), values)
    if shape.field != "relevance":
        return TicketRows([(row, row["rank"]) for row in rows])
    if not rows:
        return TicketRows([], keyset.window)
    window_start = keyset.window or (rows[0]["window_at"], rows[0]["window_id"])
    return TicketRows([(row, row["rank"]) for row in rows], window_start)


def _values(
    visibility: Visibility,
    filters: TicketFilters,
    keyset: Keyset,
    limit: int,
    language: str,
    candidates: int,
) -> dict[str, Any]:
    """The bound parameters of the list's statement; a filter is given when it has one."""
    values: dict[str, Any] = {**visibility.parameters(), "limit": limit}
    for name in (*_EQUAL, "assignee_id", "tag"):
        if getattr(filters, name):
            values[name] = list(getattr(filters, name))
    for name, _, _ in _RANGES:
        if getattr(filters, name) is not None:
            values[name] = getattr(filters, name)
    if filters.q:
        values.update(q=filters.q, language=language, candidates=candidates)
    if keyset.after_id is not None:
        values.update(cursor_value=_cursor_parameter(keyset.field, keyset.value))
        values.update(cursor_id=keyset.after_id)
    if keyset.window is not None:
        values.update(window_at=keyset.window[0], window_id=keyset.window[1])
    return values


# A page's size is written into the statement, not bound: PostgreSQL plans a statement whose
# LIMIT is a parameter as if it fetched a tenth of the matches, finds that plan dearer than
# one made for the values, and so planned the list anew at every request, which made a
# page's query cost twice as much (165 against 352 µs; `pgbench -M prepared`, 20,000 tickets).
_LIMIT = bindparam("limit", type_=Integer(), literal_execute=True)


@lru_cache(maxsize=1024)
def _statement(shape: _Shape, within: Select[uuid.UUID] | None) -> Select[Any]:
    """The list's statement for ``shape`` among the ids ``within`` selects (a statement built
    once, as this one), every value a bound parameter of :func:`_values`."""
    deleted = _TICKET.deleted_at
    conditions: list[ColumnElement[bool]] = [
        tickets_rule(shape.own_only),
        deleted.is_not(None) if shape.deleted else deleted.is_(None),
    ]
    for name in _EQUAL:
        if name in shape.given:
            conditions.append(_TICKET[name].in_(bindparam(name, expanding=True)))
    assignee: list[ColumnElement[bool]] = []
    if "assignee_id" in shape.given:
        assignee.append(_TICKET.assignee_id.in_(bindparam("assignee_id", expanding=True)))
    if "unassigned" in shape.given:
        assignee.append(_TICKET.assignee_id.is_(None))
    if assignee:
        conditions.append(or_(*assignee))
    if "tag" in shape.given:
        conditions.append(
            _TICKET.id.in_(
                select(ticket_tag.c.ticket_id)
                .join(Tag.__table__, _TAG.id == ticket_tag.c.tag_id)
                .where(
                    _TAG.organization_id == bindparam("visible_organization"),
                    _TAG.name.in_(bindparam("tag", expanding=True)),
                )
            )
        )
    if within is not None:
        conditions.append(_TICKET.id.in_(within))
    for name, column, lower in _RANGES:
        if name in shape.given:
            bound = bindparam(name, type_=DateTime(timezone=True))
            conditions.append(_TICKET[column] >= bound if lower else _TICKET[column] < bound)
    rank: ColumnElement[Any] | None = None
    if "q" in shape.given:
        tsquery = func.websearch_to_tsquery(
            cast(bindparam("language", type_=String()), REGCONFIG), bindparam("q", type_=String())
        )
        conditions.append(_TICKET.search_vector.op("@@")(tsquery))
        if shape.field == "relevance":
            return _ranked(conditions, tsquery, shape)
        rank = func.ts_rank(_TICKET.search_vector, tsquery)
    sort = _sort_expression(shape.field, rank)
    if shape.after:
        position = tuple_(sort, _TICKET.id)
        bound_position = tuple_(_cursor_value(shape.field), bindparam("cursor_id", type_=Uuid()))
        conditions.append(
            position < bound_position if shape.descending else position > bound_position
        )
    ascending = (sort.asc(), _TICKET.id.asc())
    order = (sort.desc(), _TICKET.id.desc()) if shape.descending else ascending
    rank_column = rank.label("rank") if rank is not None else literal(None, REAL).label("rank")
    return select(*ticket_columns(), rank_column).where(*conditions).order_by(*order).limit(_LIMIT)


def _sort_expression(field: str, rank: ColumnElement[Any] | None) -> ColumnElement[Any]:
    if field == "relevance":
        assert rank is not None
        return rank
    if field == "due_at":
        return func.coalesce(_TICKET.due_at, cast(literal("infinity"), DateTime(timezone=True)))
    column: ColumnElement[Any] = _TICKET[field]
    return column


def _cursor_value(field: str) -> ColumnElement[Any]:
    """The sort value a page continues after (``cursor_value``), as the sort compares it."""
    if field in _DATES:
        return cast(bindparam("cursor_value", type_=String()), DateTime(timezone=True))
    if field == "relevance":
        return cast(bindparam("cursor_value", type_=Float()), REAL)
    if field == "priority":
        return bindparam("cursor_value", type_=_TICKET.priority.type)
    return bindparam("cursor_value", type_=Integer())


def _cursor_parameter(field: str, value: Any) -> Any:
    """A cursor's sort value as :func:`_cursor_value` binds it."""
    if field in _DATES:
        return str(value)
    if field == "relevance":
        return float(value)
    if field == "priority":
        return Priority(value)
    return int(value)


def _rank_order(rows: Subquery, descending: bool) -> tuple[ColumnElement[Any], ...]:
    if descending:
        return rows.c.rank.desc(), rows.c.id.desc()
    return rows.c.rank.asc(), rows.c.id.asc()


def _ranked(
    conditions: Sequence[ColumnElement[bool]], tsquery: ColumnElement[Any], shape: _Shape
) -> Select[Any]:
    """A relevance page: rank the candidate window, cut the page, then read its tickets."""
    window = select(_TICKET.id, _TICKET.created_at, _TICKET.search_vector).where(*conditions)
    if not shape.window:
        window = window.order_by(_TICKET.created_at.desc(), _TICKET.id.desc())
    else:
        start = tuple_(
            bindparam("window_at", type_=DateTime(timezone=True)),
            bindparam("window_id", type_=Uuid()),
        )
        window = window.where(tuple_(_TICKET.created_at, _TICKET.id) >= start).order_by(
            _TICKET.created_at.asc(), _TICKET.id.asc()
        )
    candidates = bindparam("candidates", type_=Integer(), literal_execute=True)
    matches = window.limit(candidates).subquery("candidates")
    oldest = (matches.c.created_at.asc(), matches.c.id.asc())
    ranked = select(
        matches.c.id,
        func.ts_rank(matches.c.search_vector, tsquery).label("rank"),
        func.first_value(matches.c.created_at).over(order_by=oldest).label("window_at"),
        func.first_value(matches.c.id).over(order_by=oldest).label("window_id"),
    ).subquery("ranked")
    page = select(ranked)
    if shape.after:
        position = tuple_(ranked.c.rank, ranked.c.id)
        bound = tuple_(_cursor_value("relevance"), bindparam("cursor_id", type_=Uuid()))
        page = page.where(position < bound if shape.descending else position > bound)
    cut = page.order_by(*_rank_order(ranked, shape.descending)).limit(_LIMIT).subquery("page")
    return (
        select(*ticket_columns(), cut.c.rank, cut.c.window_at, cut.c.window_id)
        .select_from(Ticket.__table__.join(cut, _TICKET.id == cut.c.id))
        .order_by(*_rank_order(cut, shape.descending))
    )
