"""Rows a change appends and the transaction does not change again: a ticket's history and
the outbox's events. They are written together, in one statement, instead of one by one
through the ORM's unit of work.

A change records its history rows and announces its events as it goes; they are written
just before the next statement the session executes (``Session.execute`` and everything
built on it) or, at the latest, when it commits. A change and its announcements thus take
one round trip where the unit of work took one per table, and none of the ORM's
bookkeeping per row: the history row and the outbox event of a ticket's creation cost it a
quarter of its CPU.

They behave as rows the ORM would have flushed:
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

from sqlalchemy import Insert, String, Table, bindparam, column, event, func, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

_ROWS = "ticketcreator_journal"

# A row waiting to be written: its table, its values, and the transaction it was appended
# in (None: before the session's first transaction began).
_Pending = tuple[Table, dict[str, Any], SessionTransaction | None]


def append(session: AsyncSession | Session, model: type[Any], row: dict[str, Any]) -> None:
    """Write ``row``, a row of ``model``'s table, with the transaction. Every column the
    table requires is given (the ORM's defaults do not apply)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    rows: list[_Pending] = sync.info.setdefault(_ROWS, [])
    rows.append((cast(Table, model.__table__), row, _innermost(sync)))


def pending(session: AsyncSession | Session) -> bool:
    """Whether rows wait to be written (the transaction has something to commit)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return bool(sync.info.get(_ROWS))


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


def _write(session: Session, connection: Connection) -> None:
    """Write the rows that belong to the session's current transaction, in one statement."""
    rows: list[_Pending] = session.info.get(_ROWS, [])
    current = _innermost(session)
    if current is None:
        return
    due = [row for row in rows if _within(row[2], current)]
    if not due:
        return
    session.info[_ROWS] = [row for row in rows if not _within(row[2], current)]
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, values, _ in due:
        by_table.setdefault(table, []).append(values)
    tables = tuple(by_table)
    parameters = {f"rows_{i}": json.dumps(by_table[t], default=_json) for i, t in enumerate(tables)}
    connection.execute(_statement(tables), parameters)


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not a journal value")


@cache
def _statement(tables: Sequence[Table]) -> Insert:
    """One statement inserting every table's rows, each from a JSON array of objects (the
    first tables as data-modifying CTEs of the last one's insert); built once per set of
    tables."""
    inserts = []
    for i, table in enumerate(tables):
        rows = (
            func.jsonb_to_recordset(bindparam(f"rows_{i}", type_=String()).cast(JSONB))
            .table_valued(*(column(c.name, c.type) for c in table.columns))
            .render_derived(with_types=True)
        )
        columns = list(table.columns)
        inserts.append(insert(table).from_select(columns, select(*rows.c)))
    statement = inserts[-1]
    for i, each in enumerate(inserts[:-1]):
        statement = statement.add_cte(each.cte(f"w{i}"))
    return statement


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    session = state.session
    if session.info.get(_ROWS):
        _write(session, session.connection())


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_ROWS):
        _write(session, session.connection())


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    rows: list[_Pending] | None = session.info.get(_ROWS)
    if rows:
        session.info[_ROWS] = [row for row in rows if not _within(row[2], previous)]


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_ROWS, None)
