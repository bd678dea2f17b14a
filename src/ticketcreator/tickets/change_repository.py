"""The writes of a ticket's change: its row with the journal's rows due (its history and
events), on the ticket's lock or on a condition, and its search document."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    bindparam,
    cast,
    func,
    literal_column,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate, Update

from ticketcreator.core import journal, reads
from ticketcreator.core.db import untouched
from ticketcreator.tickets.models import Ticket

SEARCHED = ("title", "description")
"""The columns of the ticket's row its search document is made of (:func:`refresh_search`)."""


async def write_changes(
    session: AsyncSession, ticket_id: uuid.UUID, values: dict[str, Any], language: str
) -> None:
    """Set ``values`` (column → value) in the ticket's row and write the journal's rows due
    (the change's history and events) in the same statement, which also recomputes the
    search document (in ``language``) when a column it is made of changes."""
    parameters = _parameters(ticket_id, values, language)
    await session.run_sync(journal.write_with, _update(tuple(sorted(values))), parameters)


async def write_changes_on_condition(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    version: int,
    values: dict[str, Any],
    condition: ColumnElement[bool],
    language: str,
) -> bool:
    """As :func:`write_changes`, for a ticket read without its lock: only if its row is
    still live at ``version`` and ``condition`` (on the ticket's row) holds; the journal's
    rows due are written only then. Returns whether it was written. When the session has done
    nothing else (as for :func:`ticketcreator.tickets.repository.insert_ticket`), the
    statement is its own transaction."""
    parameters = _parameters(ticket_id, values, language)
    parameters["read_version"] = version
    conditional = _update_on_condition(tuple(sorted(values)), condition)
    statement, arguments = journal.on_condition(session, conditional, parameters)
    if untouched(session):
        return await reads.execute(statement, arguments) is not None
    return (await session.execute(statement, arguments)).first() is not None


def _parameters(ticket_id: uuid.UUID, values: dict[str, Any], language: str) -> dict[str, Any]:
    """The parameters of :func:`_update` setting ``values`` in the ticket's row."""
    parameters = {f"new_{name}": value for name, value in values.items()}
    parameters["changed_ticket_id"] = ticket_id
    if not values.keys().isdisjoint(SEARCHED):
        parameters["language"] = language
    return parameters


@cache
def _update_on_condition(
    columns: tuple[str, ...], condition: ColumnElement[bool]
) -> ReturningUpdate[Any]:
    """The update of :func:`_update` on the conditions of :func:`write_changes_on_condition`
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
    """The update of a ticket's ``columns``, and of its search document when they name one it
    is made of (:data:`SEARCHED`), built once per set of columns. Its values are named
    ``new_<column>``, as in the ticket's insert (:mod:`ticketcreator.tickets.repository`)."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    changed: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns
    }
    if not changed.keys().isdisjoint(SEARCHED):
        title, description = (changed.get(name, table.c[name]) for name in SEARCHED)
        changed["search_vector"] = _document(title, description)
    ticket_id = bindparam("changed_ticket_id", type_=table.c.id.type)
    return update(table).where(table.c.id == ticket_id).values(changed)


async def refresh_search(session: AsyncSession, ticket_id: uuid.UUID, language: str) -> None:
    """Recompute the ticket's search document from what its row holds: title (A), description
    (B), and the rest (:data:`_COMMENTS_AND_CAPTURES`)."""
    await session.execute(_refresh(), {"language": language, "refreshed_id": ticket_id})


_COMMENTS_AND_CAPTURES = (
    "setweight(to_tsvector(CAST(:language AS regconfig), coalesce(("
    "SELECT string_agg(c.body, ' ' ORDER BY c.created_at) FROM ticket_comment c"
    " WHERE c.ticket_id = ticket.id AND c.deleted_at IS NULL AND NOT c.internal"
    "), '')), 'C')"
    " || setweight(to_tsvector(CAST(:language AS regconfig), coalesce(("
    "SELECT string_agg(t.text, ' ' ORDER BY t.created_at) FROM attachment_text t"
    " JOIN capture_attachment ca ON ca.attachment_id = t.attachment_id"
    " JOIN capture cp ON cp.id = ca.capture_id"
    " WHERE cp.ticket_id = ticket.id AND t.status = 'ready'"
    "), '')), 'D')"
)
"""In SQL, within an update of a ticket's row, the part of its search document that is not
in the row: public comments (C), and the transcripts and screenshot text of its captures (D),
in the text search configuration of parameter ``language``."""


@cache
def _refresh() -> Update:
    """The statement of :func:`refresh_search`, built once; ``updated_at`` is kept as it is
    (its default on update would set it: the ticket did not change)."""
    table = Ticket.__table__
    assert isinstance(table, Table)
    return (
        update(table)
        .where(table.c.id == bindparam("refreshed_id", type_=table.c.id.type))
        .values(
            search_vector=_document(table.c.title, table.c.description),
            updated_at=table.c.updated_at,
        )
    )


def row_document(title: ColumnElement[str], description: ColumnElement[str]) -> ColumnElement[Any]:
    """The part of a ticket's search document its row holds: ``title`` (A) and
    ``description`` (B), in the text search configuration of parameter ``language`` (a new
    ticket's whole document: it has no comments or captures yet)."""
    config = cast(bindparam("language", type_=String()), REGCONFIG)
    return func.setweight(func.to_tsvector(config, title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector(config, description), literal_column("'B'"))
    )


def _document(title: ColumnElement[str], description: ColumnElement[str]) -> ColumnElement[Any]:
    """The search document of a ticket whose row gets ``title`` and ``description``: as
    :func:`refresh_search` computes it, within the update of the row."""
    return row_document(title, description).op("||")(text(_COMMENTS_AND_CAPTURES))
