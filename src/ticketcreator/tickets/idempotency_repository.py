"""Queries of ``Idempotency-Key`` records (the remembered first responses of creates)."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, delete, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import journal, reads
from ticketcreator.tickets.models import IdempotencyKey, Ticket


async def find(
    organization_id: uuid.UUID, principal: str, key: str, alongside: ColumnElement[Any]
) -> tuple[reads.Row | None, Any]:
    """The committed record of ``key`` (``id``, ``request_hash``, ``response_body``,
    ``created_at``), expired or not, or None when there is none; and the value of
    ``alongside`` (an expression of parameter ``organization_id`` only), read in the same
    statement. Read on the pool of plain connections: a retry is answered without a
    transaction, and a create that goes ahead claims the key only with its own writes
    (:func:`remember`)."""
    values = {"organization_id": organization_id, "principal": principal, "key": key}
    row = await reads.fetch_one(_find(alongside), values)
    assert row is not None  # one row, with or without a record
    return (row if row["id"] is not None else None), row["alongside"]


@cache
def _find(alongside: ColumnElement[Any]) -> Select[Any]:
    """One row: the record's columns (None without one) and ``alongside``; built once per
    expression."""
    table = IdempotencyKey.__table__
    assert isinstance(table, Table)
    c = table.c
    record = and_(
        c.organization_id == bindparam("organization_id", type_=c.organization_id.type),
        c.principal == bindparam("principal", type_=c.principal.type),
        c.key == bindparam("key", type_=c.key.type),
    )
    one = select(literal(1).label("one")).subquery("one")
    columns = (c.id, c.request_hash, c.response_body, c.created_at, alongside.label("alongside"))
    return select(*columns).select_from(one.outerjoin(table, record))


async def forget_expired(
    session: AsyncSession, record_id: uuid.UUID, expired_before: datetime
) -> None:
    """Delete the record ``record_id`` if it expired (before ``expired_before``), so that its
    key can be claimed again."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.id == record_id, IdempotencyKey.created_at < expired_before
        )
    )


def remember(session: AsyncSession, record: dict[str, Any]) -> None:
    """Claim the key with the response of the request that created something: ``record`` is
    the whole row, inserted with the transaction's next statement (the journal,
    :mod:`ticketcreator.core.journal`; a ticket's insert takes it along). A concurrent request
    that claims the same key first makes that statement fail (:func:`claimed_first`)."""
    journal.append(session, IdempotencyKey, record)


def claimed_first(error: IntegrityError) -> bool:
    """Whether ``error`` is a concurrent request's claim of the same key, committed first."""
    return _UNIQUE in str(error.orig)


_UNIQUE = "uq_idempotency_key_organization_id_principal_key"


async def purge_idempotency_keys(
    session: AsyncSession, expired_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` keys older than ``expired_before``; returns how many went."""
    oldest = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < expired_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def forget_responses(session: AsyncSession, ticket: Ticket) -> None:
    """Delete the remembered responses (``Idempotency-Key``) that show the ticket: its
    creation and captures sent with it."""
    body = IdempotencyKey.response_body
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.organization_id == ticket.organization_id,
            or_(
                body["id"].astext == str(ticket.id),
                body["ticket_id"].astext == str(ticket.id),
            ),
        )
    )
