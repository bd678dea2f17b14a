"""Writes a change makes and the transaction does not read back: a ticket's history rows,
the outbox's events, the response remembered for an ``Idempotency-Key``. They are written
together, in one statement, instead of one by one through the ORM's unit of work.

A change records its history rows and announces its events as it goes (:func:`append`);
a create remembers its response (:func:`update`, by id). They are written just before the
next statement the session executes (``Session.execute`` and everything built on it) or, at
the latest, when it commits. A change and its announcements thus take one round trip where
the unit of work took one per table, and none of the ORM's bookkeeping per row: the history
row and the outbox event of a ticket's creation cost it a quarter of its CPU.

A statement can also take them along (:func:`write_with`): a create's insert writes its
history, events and remembered response, a change's update of the ticket row its history
and events; an update on a condition writes them only if it changed a row
(:func:`on_condition`).

They behave as changes the ORM would have flushed:
- a statement run through the session sees them (a connection taken with
  ``session.connection()`` and used directly does not: like the ORM's pending objects);
- a rollback discards them, and a savepoint's rollback those appended within it. Rows
  appended outside a savepoint are not written inside it, so that its rollback cannot undo
  them.

Rows are plain values (no ORM instance), converted by the table's own column types; a
JSON ``None`` is stored as SQL ``NULL``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    Update,
    bindparam,
    column,
    event,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.dml import ReturningUpdate

_ROWS = "ticketcreator_journal"

# Which statement writes a row: its table, and the columns an update sets (None: an insert).
_Target = tuple[Table, tuple[str, ...] | None]
# A row waiting to be written: its target, its values, and the transaction it was appended
# in (None: before the session's first transaction began).
_Pending = tuple[_Target, dict[str, Any], SessionTransaction | None]


def append(session: AsyncSession | Session, model: type[Any] | Table, row: dict[str, Any]) -> None:
    """Insert ``row``, a row of ``model``'s table (or of the table ``model``), with the
    transaction. Every column the table requires is given (the ORM's defaults do not apply)."""
    table = model if isinstance(model, Table) else cast(Table, model.__table__)
    _add(session, (table, None), row)


def update(session: AsyncSession | Session, model: type[Any], row: dict[str, Any]) -> None:
    """Set the columns ``row`` names in the row of ``model``'s table with ``row["id"]``, with
    the transaction."""
    columns = tuple(sorted(name for name in row if name != "id"))
    _add(session, (cast(Table, model.__table__), columns), row)


def _add(session: AsyncSession | Session, target: _Target, row: dict[str, Any]) -> None:
    sync = _sync(session)
    rows: list[_Pending] = sync.info.setdefault(_ROWS, [])
    rows.append((target, row, _innermost(sync)))


def pending(session: AsyncSession | Session) -> bool:
    """Whether rows wait to be written (the transaction has something to commit)."""
    return bool(_sync(session).info.get(_ROWS))


def _sync(session: AsyncSession | Session) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    """Whether a row appended in ``transaction`` belongs to ``ancestor`` (it or a savepoint
    inside it)."""
    if transaction is None:  # appended before the first transaction: the outermost one's
        return ancestor.parent is None
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


async def flush(session: AsyncSession) -> None:
    """Write the rows waiting now (no round trip when none does)."""
    if session.sync_session.info.get(_ROWS):
        await session.run_sync(_write)


def _belongs(transaction: SessionTransaction | None, current: SessionTransaction | None) -> bool:
    """Whether a row appended in ``transaction`` is due in ``current`` (None: no transaction
    begun yet, when the rows due are those appended before one)."""
    return transaction is None if current is None else _within(transaction, current)


def _write(session: Session) -> None:
    """Write the rows that belong to the session's current transaction, in one statement."""
    if not session.info.get(_ROWS):
        return
    connection = session.connection()  # begins the transaction rows appended before belong to
    targets, parameters = _take(session)
    if targets:
        connection.execute(_statement(targets), parameters)


def write_with(session: Session, statement: Insert | Update, parameters: dict[str, Any]) -> None:
    """Run ``statement`` and write the rows due with it, in one statement: a ticket's insert
    or update takes its history and events along. No parameter of ``statement`` may be named
    as a column of a table the journal writes: SQLAlchemy would make it one more column that
    update sets. Called with the sync session (``AsyncSession.run_sync``)."""
    connection = session.connection()
    connection.execute(*with_rows(session, statement, parameters))


def with_rows(
    session: AsyncSession | Session, statement: Insert | Update, parameters: dict[str, Any]
) -> tuple[Insert | Update, dict[str, Any]]:
    """``statement`` writing the rows due with it, and its parameters (as :func:`write_with`
    runs it): the rows are taken, for the caller to run the statement. Before the session
    has begun a transaction, the rows due are those appended so far."""
    targets, rows = _take(_sync(session))
    return _with_writes(statement, targets), {**parameters, **rows}


def on_condition(
    session: AsyncSession | Session, statement: ReturningUpdate[Any], parameters: dict[str, Any]
) -> tuple[Select[Any], dict[str, Any]]:
    """As :func:`with_rows`, for an update whose conditions may find no row to change (the
    row's version, what a reaction needs): the rows due are written only when it changes
    one. The statement returns what ``statement`` returns (nothing when it changed nothing)."""
    targets, rows = _take(_sync(session))
    return _on_condition(statement, targets), {**parameters, **rows}


def _take(session: Session) -> tuple[tuple[_Target, ...], dict[str, str]]:
    """Take the rows that belong to the session's current transaction: their targets and,
    per target, the JSON parameter of its rows."""
    rows: list[_Pending] = session.info.get(_ROWS) or []
    current = _innermost(session)
    due = [row for row in rows if _belongs(row[2], current)]
    if not due:
        return (), {}
    session.info[_ROWS] = [row for row in rows if not _belongs(row[2], current)]
    by_target: dict[_Target, list[dict[str, Any]]] = {}
    for target, values, _ in due:
        by_target.setdefault(target, []).append(values)
    targets = tuple(by_target)
    parameters = {f"rows_{i}": _dumps(by_target[target]) for i, target in enumerate(targets)}
    return targets, parameters


def _dumps(rows: list[dict[str, Any]]) -> str:
    """``rows`` as a JSON array, their values as :func:`json_value` makes them. orjson writes
    ids, times and enumerations itself: ``json.dumps`` called back into Python for each one
    (a PATCH spent 4 % of its CPU there); ids as asyncpg reads them (its own class of UUID)
    it hands to :func:`_json`. What orjson still refuses (an integer past 64 bits, a value
    no journal holds) goes through ``json.dumps``, which keeps the one and names the other."""
    try:
        return orjson.dumps(rows, default=_json, option=orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except TypeError:
        return json.dumps(rows, default=_json)


def json_value(value: Any) -> Any:
    """``value`` as JSON stores it: ids and enums as strings, times in ISO 8601."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _json(value: Any) -> Any:
    converted = json_value(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not a journal value")
    return converted


@cache
def _statement(targets: Sequence[_Target]) -> Insert | Update:
    """One statement writing every target's rows, each from a JSON array of objects (the
    first ones as data-modifying CTEs of the last one); built once per set of targets."""
    writes = _writes(targets)
    return _with_ctes(writes[-1], writes[:-1])


@cache
def _with_writes(statement: Insert | Update, targets: Sequence[_Target]) -> Insert | Update:
    """``statement`` with every target's rows written as its data-modifying CTEs; built once
    per statement and set of targets."""
    return _with_ctes(statement, _writes(targets))


@cache
def _on_condition(statement: ReturningUpdate[Any], targets: Sequence[_Target]) -> Select[Any]:
    """``statement`` as a CTE, every target's rows written if it returned a row, and its
    rows selected; built once per statement and set of targets."""
    changed = statement.cte("changed")
    writes = _writes(targets, only_if=exists(select(literal(1)).select_from(changed)))
    query = select(*changed.c)
    for i, each in enumerate(writes):
        query = query.add_cte(each.cte(f"w{i}"))
    return query


def _with_ctes(statement: Insert | Update, writes: Sequence[Insert | Update]) -> Insert | Update:
    """``statement`` with ``writes`` as its data-modifying CTEs."""
    for i, each in enumerate(writes):
        statement = statement.add_cte(each.cte(f"w{i}"))
    return statement


def _writes(
    targets: Sequence[_Target], only_if: ColumnElement[bool] | None = None
) -> list[Insert | Update]:
    """A statement per target writing its rows, read from the JSON array of parameter
    ``rows_<i>`` for the target at ``i`` (only if ``only_if`` holds, when given)."""
    condition = () if only_if is None else (only_if,)
    writes: list[Insert | Update] = []
    for i, (table, columns) in enumerate(targets):
        names = [c.name for c in table.columns] if columns is None else ["id", *columns]
        rows = (
            func.jsonb_to_recordset(bindparam(f"rows_{i}", type_=String()).cast(JSONB))
            .table_valued(*(column(name, table.c[name].type) for name in names))
            .render_derived(with_types=True)
        )
        if columns is None:
            values = select(*rows.c).where(*condition)
            writes.append(insert(table).from_select(list(table.columns), values))
        else:
            changed = {name: rows.c[name] for name in columns}
            writes.append(
                sql_update(table).values(changed).where(table.c.id == rows.c.id, *condition)
            )
    return writes


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    _write(state.session)


event.listen(Session, "before_commit", _write)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    rows: list[_Pending] | None = session.info.get(_ROWS)
    if rows:
        session.info[_ROWS] = [row for row in rows if not _within(row[2], previous)]


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_ROWS, None)
