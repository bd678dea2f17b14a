"""Ticket queries: numbering and the insert, loading (for a change too) and locking,
permanent deletion. Each one is filtered by the caller's organization (and, for reporters, by
the reporter), so no code path can reach another tenant's rows
(:class:`~ticketcreator.tickets.visibility.Visibility`); a change's writes, the list,
comments, watchers, links and idempotency keys have query modules of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Enum,
    Select,
    String,
    Table,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.sql.dml import Insert, ReturningInsert, ReturningUpdate

from ticketcreator.core import journal, reads
from ticketcreator.core.db import untouched
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.change_repository import row_document
from ticketcreator.tickets.models import Ticket, TicketCounter, ticket_tag
from ticketcreator.tickets.visibility import Visibility, tickets_rule


def _with_tags(query: Select[Ticket]) -> Select[Ticket]:
    return query.options(selectinload(Ticket.tags))


async def take_number(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """The organization's next ticket number, taken for good: the counter is bumped in a
    statement of its own, committed at once, as a sequence is. Concurrent creates thus wait
    for one another only as long as that statement runs, not until each commits; a create
    that fails after taking its number leaves a gap, as a ticket purged from the trash does.
    Numbers are never taken twice, and a create takes its number after every check that may
    refuse it.

    The statement runs on the pool of plain connections (:mod:`ticketcreator.core.reads`), so
    that a request holding a session's connection never waits for a second one of the same
    pool. An organization's first number creates its counter row in ``session``'s
    transaction instead: the statement of its own finds no row to bump, and the organization
    may not even be committed yet (the demo's seed creates it with its tickets). That
    transaction holds the row until it ends; creates meanwhile wait for it, then bump it.
    """
    bump, first = _numbering()
    values = {"organization_id": organization_id}
    row = await reads.execute_unflushed(bump, values)
    if row is None:
        return int((await session.execute(first, values)).scalar_one())
    return int(row["last_number"])


@cache
def _numbering() -> tuple[ReturningUpdate[int], ReturningInsert[int]]:
    """Bumping the organization's counter row; and creating it at 1, or bumping it if it
    exists. Built once."""
    counter = TicketCounter.__table__
    assert isinstance(counter, Table)
    organization = bindparam("organization_id", type_=counter.c.organization_id.type)
    bump = (
        update(counter)
        .where(counter.c.organization_id == organization)
        .values(last_number=counter.c.last_number + 1)
        .returning(counter.c.last_number)
    )
    first = (
        insert(counter)
        .values(organization_id=organization, last_number=1)
        .on_conflict_do_update(
            index_elements=[counter.c.organization_id],
            set_={"last_number": counter.c.last_number + 1},
        )
        .returning(counter.c.last_number)
    )
    return bump, first


async def insert_ticket(session: AsyncSession, ticket: Ticket, language: str) -> None:
    """Insert a new (numbered) ticket and write its tags and the journal's rows (its history,
    events, remembered response) in the same statement, which also computes the ticket's
    search document (:func:`~ticketcreator.tickets.change_repository.row_document`: no
    comments or captures yet).

    When the session has done nothing else (no transaction begun, nothing else to write or
    to run before its commit), that statement is the whole transaction: it commits on its
    own, without the session's ``BEGIN`` and ``COMMIT`` (:func:`ticketcreator.core.reads.execute`).
    """
    values = {f"new_{key}": getattr(ticket, key) for key in _inserted_column_keys()}
    values["language"] = language
    for tag in ticket.tags:
        journal.append(session, ticket_tag, {"ticket_id": ticket.id, "tag_id": tag.id})
    if untouched(session):
        await reads.execute(*journal.with_rows(session, _insert(), values))
    else:
        await session.run_sync(journal.write_with, _insert(), values)


@cache
def _inserted_columns() -> tuple[Column[Any], ...]:
    table = Ticket.__table__
    assert isinstance(table, Table)
    return tuple(column for column in table.c if column.key != "search_vector")


@cache
def _inserted_column_keys() -> tuple[str, ...]:
    return tuple(column.key for column in _inserted_columns())


@cache
def _insert() -> Insert:
    """The ticket's insert, built once with every value a bound parameter, named
    ``new_<column>``: no column of a table the journal writes has such a name (an update given
    a parameter named as one of its columns would set that column)."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    values: dict[str, Any] = {
        column.key: bindparam(f"new_{column.key}", type_=column.type)
        for column in _inserted_columns()
    }
    values["search_vector"] = row_document(values["title"], values["description"])
    return insert(table).values(values)


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
    condition: ColumnElement[bool] | None = None,
) -> reads.Row | None:
    """One visible live ticket by id or number, as the row of :func:`ticket_columns`: for a
    caller who only reads it (no entity, no relationship to load), or changes it without its
    lock, on the read pool; with ``condition`` on the ticket's row as column ``condition``
    when given (whether a change may be written by a statement of its own: see
    :func:`~ticketcreator.tickets.change_repository.write_changes_on_condition`)."""
    query = _ticket_row_query(visibility.own_only, ticket_id is not None, condition)
    key = {"ticket_id": ticket_id} if ticket_id is not None else {"number": number}
    return await reads.fetch_one(query, {**visibility.parameters(), **key})


def ticket_of_row(row: reads.Row) -> Ticket:
    """The ticket a row of :func:`ticket_columns` holds, as an entity of no session, without
    its tags."""
    ticket = _entity({key: row[key] for key in _inserted_column_keys()})
    values = instance_dict(ticket)
    for key, members in _enumerations():
        values[key] = members(values[key])
    return ticket


def new_ticket(**values: Any) -> Ticket:
    """A ticket to insert (:func:`insert_ticket`), as an entity of no session, holding
    ``values`` (column → value, and ``tags``, a list), every other column None."""
    return _entity({**dict.fromkeys(_inserted_column_keys()), **values})


def _entity(values: dict[str, Any]) -> Ticket:
    """A ticket of no session holding ``values`` as loaded ones: set one by one through the
    ORM's attribute events, they cost a PATCH 6 % of its CPU, and a create 5 %."""
    ticket: Ticket = Ticket.__mapper__.class_manager.new_instance()
    instance_dict(ticket).update(values)
    return ticket


@cache
def _enumerations() -> tuple[tuple[str, Callable[[str], Any]], ...]:
    """The ticket's enumerated columns, each with its members' class."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    return tuple(
        (column.key, column.type.enum_class)
        for column in table.c
        if isinstance(column.type, Enum) and column.type.enum_class is not None
    )


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
def _ticket_row_query(
    own_only: bool, by_id: bool, condition: ColumnElement[bool] | None
) -> Select[Any]:
    """The statement of :func:`read_ticket`, built once per shape and condition (as
    :func:`_ticket_query`)."""
    columns = (
        ticket_columns() if condition is None else (*ticket_columns(), condition.label("condition"))
    )
    return select(*columns).where(tickets_rule(own_only), *_which(by_id, False))


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
