"""The writes of a ticket's change: its row with the journal's rows due (its history and
events), on the ticket's lock or on a condition, and its search document."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate, Update

from ticketcreator.core import journal, reads
from ticketcreator.core.db import untouched
from ticketcreator.tickets.models import Ticket


async def write_changes(
    session: AsyncSession, ticket_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Set ``values`` (column → value) in the ticket's row and write the journal's rows due
    (the change's history and events) in the same statement."""
    parameters = {f"new_{name}": value for name, value in values.items()}
    parameters["changed_ticket_id"] = ticket_id
    await session.run_sync(journal.write_with, _update(tuple(sorted(values))), parameters)


async def write_changes_on_condition(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    version: int,
    values: dict[str, Any],
    condition: ColumnElement[bool],
) -> bool:
    """As :func:`write_changes`, for a ticket read without its lock: only if its row is
    still live at ``version`` and ``condition`` (on the ticket's row) holds; the journal's
    rows due are written only then. Returns whether it was. When the session has done
    nothing else (as for :func:`ticketcreator.tickets.repository.insert_ticket`), the
    statement is its own transaction."""
    parameters = {f"new_{name}": value for name, value in values.items()}
    parameters["changed_ticket_id"] = ticket_id
    parameters["read_version"] = version
    conditional = _update_on_condition(tuple(sorted(values)), condition)
    statement, arguments = journal.on_condition(session, conditional, parameters)
    if untouched(session):
        return await reads.execute(statement, arguments) is not None
    return (await session.execute(statement, arguments)).first() is not None


@cache
def _update_on_condition(
    columns: tuple[str, ...], condition: ColumnElement[bool]
) -> ReturningUpdate[Any]:
    """The update of :func:`_update`, on the conditions of :func:`write_changes_on_condition`
    (the version read is ``read_version``), returning the new version; built once per set of
    columns and condition."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    return (
        _update(columns)
        .where(
            table.c.version == bindparam("read_version", type_=table.c.version.type),
            table.c.deleted_at.is_(None),
            condition,
        )
        .returning(table.c.version)
    )


@cache
def _update(columns: tuple[str, ...]) -> Update:
    """The update of a ticket's ``columns``, built once per set of columns. Its values are
    named ``new_<column>``, as in the ticket's insert
    (:mod:`ticketcreator.tickets.repository`)."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    changed = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns}
    ticket_id = bindparam("changed_ticket_id", type_=table.c.id.type)
    return update(table).where(table.c.id == ticket_id).values(changed)


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
