"""Ticket queries: numbering, loading and locking, the search document, permanent deletion.
Each one is filtered by the caller's organization (and, for reporters, by the reporter), so no
code path can reach another tenant's rows (:class:`~ticketcreator.tickets.visibility.Visibility`);
the list, comments, watchers, links and idempotency keys have query modules of their own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Enum,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql.dml import ReturningInsert

from ticketcreator.core import journal, reads
from ticketcreator.core.db import lock_key
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import Ticket, TicketCounter, ticket_tag
from ticketcreator.tickets.visibility import Visibility, tickets_rule


def _with_tags(query: Select[Ticket]) -> Select[Ticket]:
    return query.options(selectinload(Ticket.tags))


async def insert_numbered(
    session: AsyncSession, ticket: Ticket, language: str, stand_in: int
) -> int:
    """Insert a new ticket with its organization's next number, and write its tags and the
    journal's rows (its history, events, remembered response) in the same statement; returns
    the number. In those rows, ``stand_in`` (a number no ticket has) stands for the number.
    The statement also computes the ticket's search document (title A, description B, as
    :func:`refresh_search` would with no comments or captures yet).

    The counter row stays locked until the transaction ends, so concurrent creates queue here
    and a rolled-back create gives its number back: numbers have neither gaps nor duplicates.
    Nothing but the commit comes after this statement, so the number is held for as short a
    time as can be. Creates queue on the organization's numbering lock (an advisory lock,
    taken before the upsert, held as long as the row): its waiters are woken one at a time,
    as it passes from one transaction to the next. Waiting on the row itself, every waiter
    woke at each commit only to find the row taken again, which made PostgreSQL's lock
    manager the bottleneck of concurrent creates.
    """
    values = {f"new_{column.key}": getattr(ticket, column.key) for column in _inserted_columns()}
    values["numbering_lock"] = lock_key(ticket.organization_id)
    values["language"] = language
    for tag in ticket.tags:
        journal.append(session, ticket_tag, {"ticket_id": ticket.id, "tag_id": tag.id})
    number: int = await session.run_sync(
        journal.write_returning, _insert_numbered(), values, str(stand_in)
    )
    return number


@cache
def _inserted_columns() -> tuple[Column[Any], ...]:
    table = Ticket.__table__
    assert isinstance(table, Table)
    return tuple(column for column in table.c if column.key not in ("number", "search_vector"))


# The advisory locks of ticket numbering, apart from other features' (see core.db.lock_key).
_NUMBERING_LOCK_NAMESPACE = 0x4E554D42  # "NUMB"


@cache
def _insert_numbered() -> ReturningInsert[int]:
    """The numbering lock, the counter's upsert and the ticket's insert as one statement,
    built once with every value a bound parameter. The lock is a function in the upsert's
    FROM, so it is held before the upsert looks for the counter row. The ticket's values are
    named ``new_<column>``: no column of a table the journal writes has such a name (an
    update given a parameter named as one of its columns would set that column)."""
    counter = TicketCounter.__table__
    table = Ticket.__table__
    assert isinstance(counter, Table)
    assert isinstance(table, Table)
    queue = func.pg_advisory_xact_lock(
        literal(_NUMBERING_LOCK_NAMESPACE), bindparam("numbering_lock", type_=Integer())
    ).table_valued("queued")
    organization = bindparam("new_organization_id", type_=counter.c.organization_id.type)
    first = select(organization, literal(1))
    next_number = (
        insert(counter)
        .from_select(["organization_id", "last_number"], first.select_from(queue))
        .on_conflict_do_update(
            index_elements=[counter.c.organization_id],
            set_={"last_number": counter.c.last_number + 1},
        )
        .returning(counter.c.last_number)
        .cte("next_number")
    )
    columns = _inserted_columns()
    config = cast(bindparam("language", type_=String()), REGCONFIG)
    title = bindparam("new_title", type_=table.c.title.type)
    description = bindparam("new_description", type_=table.c.description.type)
    document = func.setweight(func.to_tsvector(config, title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector(config, description), literal_column("'B'"))
    )
    row = select(
        *[bindparam(f"new_{column.key}", type_=column.type) for column in columns],
        next_number.c.last_number,
        document,
    )
    return (
        insert(table)
        .from_select([*columns, table.c.number, table.c.search_vector], row)
        .returning(table.c.number)
    )


async def refresh_search(session: AsyncSession, ticket_id: uuid.UUID, language: str) -> None:
    """Recompute the ticket's search document: title (A), description (B), public comments (C),
    and the transcripts and screenshot text of its captures (D)."""
    await session.execute(
        text(
            "UPDATE ticket SET search_vector ="
            " setweight(to_tsvector(CAST(:cfg AS regconfig), title), 'A')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), description), 'B')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), coalesce(("
            "SELECT string_agg(c.body, ' ' ORDER BY c.created_at) FROM ticket_comment c"
            " WHERE c.ticket_id = ticket.id AND c.deleted_at IS NULL AND NOT c.internal"
            "), '')), 'C')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), coalesce(("
            "SELECT string_agg(t.text, ' ' ORDER BY t.created_at) FROM attachment_text t"
            " JOIN capture_attachment ca ON ca.attachment_id = t.attachment_id"
            " JOIN capture cp ON cp.id = ca.capture_id"
            " WHERE cp.ticket_id = ticket.id AND t.status = 'ready'"
            "), '')), 'D') WHERE id = :id"
        ),
        {"cfg": language, "id": ticket_id},
    )


async def get_ticket(
    session: AsyncSession,
    visibility: Visibility,
    *,
    ticket_id: uuid.UUID | None = None,
    number: int | None = None,
    deleted: bool | None = False,
    lock: bool = False,
) -> Ticket | None:
    """One visible ticket by id or number: live ones, the trash (``deleted``) or either (None)."""
    query = _ticket_query(visibility.own_only, ticket_id is not None, deleted, lock)
    key = {"ticket_id": ticket_id} if ticket_id is not None else {"number": number}
    return (await session.scalars(query, {**visibility.parameters(), **key})).unique().first()


async def read_ticket(
    visibility: Visibility,
    *,
    ticket_id: uuid.UUID | None = None,
    number: int | None = None,
) -> reads.Row | None:
    """One visible live ticket by id or number, as the row of :func:`ticket_columns`: for a
    caller who only reads it (no entity, no relationship to load), on the read pool."""
    query = _ticket_row_query(visibility.own_only, ticket_id is not None)
    key = {"ticket_id": ticket_id} if ticket_id is not None else {"number": number}
    return await reads.fetch_one(query, {**visibility.parameters(), **key})


@cache
def ticket_columns() -> tuple[ColumnElement[Any], ...]:
    """A ticket as a reader sees it, in one row: every column but the search document, and
    ``tags``, its tag names in code point order (collation ``C``, the order of Python's
    ``sorted`` whatever the database's collation). Enumerations come as their text, which the
    response model validates: looking each value up as an enum member in Python cost a list
    of 25 tickets a hundred calls."""
    table, tags = Ticket.__table__.c, Tag.__table__.c
    names = (
        select(
            func.coalesce(
                func.array_agg(aggregate_order_by(tags.name, tags.name.collate("C"))),
                literal([], ARRAY(String)),
            )
        )
        .select_from(ticket_tag.join(Tag.__table__, tags.id == ticket_tag.c.tag_id))
        .where(ticket_tag.c.ticket_id == table.id)
        .correlate(Ticket.__table__)
        .scalar_subquery()
    )
    columns = (
        type_coerce(c, String).label(c.key) if isinstance(c.type, Enum) else c
        for c in table
        if c.key != "search_vector"
    )
    return (*columns, names.label("tags"))


def _which(by_id: bool, deleted: bool | None) -> list[ColumnElement[bool]]:
    """The conditions naming one ticket, by id or by number, live, in the trash or either."""
    table = Ticket.__table__.c
    which = [table.id == bindparam("ticket_id") if by_id else table.number == bindparam("number")]
    if deleted is not None:
        which.append(table.deleted_at.is_not(None) if deleted else table.deleted_at.is_(None))
    return which


@cache
def _ticket_query(own_only: bool, by_id: bool, deleted: bool | None, lock: bool) -> Select[Ticket]:
    """The statement of :func:`get_ticket`, built once per shape with its values as bound
    parameters: every request that names a ticket runs it, and building it and its cache key
    anew each time cost a quarter of a GET's database work."""
    query = select(Ticket).where(tickets_rule(own_only), *_which(by_id, deleted))
    if lock:
        query = query.with_for_update(of=Ticket)
    # One row per tag in the same query: no second round trip for one ticket.
    return query.options(joinedload(Ticket.tags))


@cache
def _ticket_row_query(own_only: bool, by_id: bool) -> Select[Any]:
    """The statement of :func:`read_ticket`, built once per shape (as :func:`_ticket_query`)."""
    return select(*ticket_columns()).where(tickets_rule(own_only), *_which(by_id, False))


async def lock_tickets(
    session: AsyncSession,
    visibility: Visibility,
    ids: Sequence[uuid.UUID],
    numbers: Sequence[int],
) -> list[Ticket]:
    """The visible live tickets among ``ids``/``numbers``, locked in id order (no deadlocks)."""
    query = (
        select(Ticket)
        .where(
            visibility.tickets(),
            Ticket.deleted_at.is_(None),
            or_(Ticket.id.in_(ids), Ticket.number.in_(numbers)),
        )
        .order_by(Ticket.id)
        .with_for_update(of=Ticket)
    )
    return list((await session.scalars(_with_tags(query))).all())


async def visible_ids(
    session: AsyncSession, visibility: Visibility, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``ids`` that are live tickets the caller may see."""
    if not ids:
        return set()
    query = select(Ticket.id).where(
        visibility.tickets(), Ticket.deleted_at.is_(None), Ticket.id.in_(ids)
    )
    return set((await session.scalars(query)).all())


async def purge(session: AsyncSession, ticket: Ticket) -> None:
    await session.execute(
        delete(Ticket).where(
            Ticket.id == ticket.id, Ticket.organization_id == ticket.organization_id
        )
    )


async def count_referring(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    category_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> int:
    query = (
        select(func.count()).select_from(Ticket).where(Ticket.organization_id == organization_id)
    )
    if category_id is not None:
        query = query.where(Ticket.category_id == category_id)
    if team_id is not None:
        query = query.where(Ticket.team_id == team_id)
    return int(await session.scalar(query) or 0)
