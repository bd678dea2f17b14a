"""Statements of their own on plain asyncpg connections, without the ORM's session.

A request that only reads (a ticket, a page of tickets) spent more than half of its database
CPU in the ORM around its one statement: opening a session, checking a connection out of the
engine's pool and back, executing through the engine and building the result (about 370 µs
for a ticket; here about 150). The statement is built with SQLAlchemy as everywhere else and
compiled once by the engine's own dialect; its parameters go through the same bind
processors; it runs on this process's pool of ``database.read_pool_size`` connections
(opened on first use), in its own implicit transaction, as a read's session ran it
(autocommit). Build each statement once (per shape, as the ticket list does): compiled
statements are kept by identity.

One write runs here too, for the same reason and because it must commit on its own at once:
taking a ticket's number (:func:`ticketcreator.tickets.repository.take_number`, through
:func:`execute_unflushed`). These connections commit without waiting for the WAL to reach
the disk (``synchronous_commit`` off), which reads never wait for anyway: the number's
counter row is free again as soon as it is bumped, not after a disk flush, and the create
that uses the number makes the bump durable when it commits (the WAL is flushed in order,
up to its commit). A crash can lose only a bump no committed ticket used.

A write that is a whole transaction by itself runs here as well (:func:`execute`): a
ticket's create, when its insert carries every row it writes, or its change, when its
update does, commits it on its own instead of between a session's ``BEGIN`` and ``COMMIT``,
two round trips fewer. Those connections, a pool of their own, wait for the WAL flush as the
session's do. A request's statements here can share one of them (:func:`one_connection`):
a change's read and write, a create's look-ups and insert check a connection out once.

Only for reads whose columns need no conversion from what asyncpg returns (enumerations
read as text, JSON decoded by the pool's codec); a statement selecting such a column fails
at once, naming it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import ARRAY, Dialect, Float, Numeric, Select, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import get_engine, server_settings

Row = Mapping[str, Any]

log = logging.getLogger(__name__)

# Per process, event loop and durability (whether commits wait for the WAL flush).
_PoolKey = tuple[int, asyncio.AbstractEventLoop, bool]
_pools: dict[_PoolKey, asyncpg.Pool] = {}
_opening: dict[_PoolKey, asyncio.Lock] = {}


async def fetch(statement: ClauseElement, values: Mapping[str, Any]) -> Sequence[Row]:
    """Every row ``statement`` returns for ``values``."""
    query, arguments = _bound(statement, values)
    if (held := _held_here()) is not None:
        rows: Sequence[Row] = await (await held.connection()).fetch(query, *arguments)
        return rows
    async with _acquire(await _pool()) as connection:
        rows = await connection.fetch(query, *arguments)
    return rows


async def fetch_one(statement: ClauseElement, values: Mapping[str, Any]) -> Row | None:
    """The first row ``statement`` returns for ``values``, or None."""
    return await _fetchrow_here(*_bound(statement, values), durable=False)


async def execute_unflushed(statement: ClauseElement, values: Mapping[str, Any]) -> Row | None:
    """Run ``statement``, a write committed at once without waiting for the WAL flush (a
    ticket number's bump: :func:`ticketcreator.tickets.repository.take_number`), even within
    :func:`one_connection`; the first row it returns, if any."""
    return await _fetchrow(await _pool(), *_bound(statement, values))


async def _fetchrow_here(query: str, arguments: list[Any], *, durable: bool) -> Row | None:
    """The first row of ``query``: on the connection of the running task's
    :func:`one_connection` block when it is in one, otherwise on a connection of the pool
    (``durable`` or not) checked out for it alone."""
    if (held := _held_here()) is not None:
        row: Row | None = await (await held.connection()).fetchrow(query, *arguments)
        return row
    return await _fetchrow(await _pool(durable=durable), query, arguments)


async def _fetchrow(pool: asyncpg.Pool, query: str, arguments: list[Any]) -> Row | None:
    """The first row of ``query`` on a connection of ``pool``, checked out for it alone."""
    async with _acquire(pool) as connection:
        row: Row | None = await connection.fetchrow(query, *arguments)
    return row


class _Held:
    """The connection of a :func:`one_connection` block, checked out at its first statement
    (with the pool it goes back to)."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.pool: asyncpg.Pool | None = None
        self.checked_out: Any = None

    async def connection(self) -> Any:
        if self.checked_out is None:
            self.pool = await _pool(durable=True)
            self.checked_out = await _acquire(self.pool)
        return self.checked_out


_held: ContextVar[_Held | None] = ContextVar("ticketcreator_reads_held", default=None)


def _held_here() -> _Held | None:
    """The connection block of the running task, if it is in one (a task it starts, which
    inherits the context, is not: it may run statements at the same time)."""
    held = _held.get()
    if held is None or held.task is not asyncio.current_task():
        return None
    return held


@asynccontextmanager
async def one_connection() -> AsyncIterator[None]:
    """Run this block's statements (:func:`fetch`, :func:`fetch_one`, :func:`execute`) on one
    connection, checked out of the pool whose commits wait for the WAL flush at the first of
    them and given back at the end, whatever happens: a change's read and its write check a
    connection out and back once instead of once each (35-40 µs of CPU each time, 3 % of a
    PATCH). Each statement still commits on its own. Within such a block, its connection
    serves; a task started within it takes connections of its own."""
    if _held_here() is not None:
        yield
        return
    held = _Held(asyncio.current_task())
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held.pool is not None and held.checked_out is not None:
            await held.pool.release(held.checked_out)


async def fetch_as_seen(
    session: AsyncSession, statement: Select[Any], values: Mapping[str, Any]
) -> Sequence[Row]:
    """Every row ``statement`` returns for ``values``, as ``session``'s transaction sees
    them: through the session when it has begun one (which may have written what is read),
    otherwise here, without beginning one for a read (what is committed, which is what the
    session would read too)."""
    if session.in_transaction():
        rows: Sequence[Row] = (await session.execute(statement, values)).mappings().all()
        return rows
    return await fetch(statement, values)


async def execute(statement: ClauseElement, values: Mapping[str, Any]) -> Row | None:
    """Run ``statement``, a write that is a whole transaction by itself, committed at once:
    without the ``BEGIN`` and ``COMMIT`` round trips of a session's transaction; the first
    row it returns, if any. It runs on a pool of its own, whose connections wait for the WAL
    flush as the session's do. An error is raised as the session raises it (a unique
    violation as ``IntegrityError``, with PostgreSQL's error as ``orig``), for the same
    handling."""
    query, arguments = _bound(statement, values)
    try:
        return await _fetchrow_here(query, arguments, durable=True)
    except asyncpg.PostgresError as exc:
        kind = IntegrityError if exc.sqlstate.startswith("23") else DBAPIError
        raise kind(query, None, exc, hide_parameters=True) from exc


def _acquire(pool: asyncpg.Pool) -> Any:
    """A connection of ``pool``, waited for at most ``database.pool_timeout_s`` as the engine's
    pool does. asyncpg waits with a timeout in a task of its own (35-55 µs of CPU, a tenth of
    a ticket's GET): only when no connection is idle."""
    idle = pool.get_idle_size()
    return pool.acquire(timeout=None if idle else get_settings().database.pool_timeout_s)


def _bound(statement: ClauseElement, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    compiled, processors = _compiled(statement)
    if compiled.literal_execute_params or compiled.post_compile_params:
        state = compiled.construct_expanded_state(values)
        text, parameters, positions = state.statement, state.parameters, state.positiontup
        if state.processors:  # those of a list's items
            processors = {**processors, **state.processors}
    else:
        # Nothing to expand or write into the text (expanding anyway cost a GET 1 %).
        text, parameters = compiled.string, compiled.construct_params(values)
        positions = compiled.positiontup
    arguments = [
        processors[name](parameters[name]) if name in processors else parameters[name]
        for name in positions or ()
    ]
    return text, arguments


@lru_cache(maxsize=512)
def _compiled(statement: ClauseElement) -> tuple[SQLCompiler, Mapping[str, Any]]:
    """``statement`` compiled by the engine's dialect (callers build each shape once) and
    the bind processors of its parameters, as the engine applies them."""
    dialect = get_engine().dialect
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    for name, _, _, kind in compiled._result_columns:
        if _converted(kind, dialect):
            raise TypeError(f"column {name!r} needs a conversion that reads do not make")
    return compiled, compiled._bind_processors


def _converted(kind: TypeEngine[Any], dialect: Dialect) -> bool:
    """Whether SQLAlchemy converts what asyncpg returns for a column of this type."""
    if isinstance(kind, ARRAY) and not kind.as_tuple:
        kind = kind.item_type  # asyncpg returns a list
    if isinstance(kind, (Numeric, Float)):  # asyncpg: a float column as float, numeric as Decimal
        return bool(kind.asdecimal) == isinstance(kind, Float)
    return kind._cached_result_processor(dialect, None) is not None


async def _pool(*, durable: bool = False) -> asyncpg.Pool:
    key = (os.getpid(), asyncio.get_running_loop(), durable)
    pool = _pools.get(key)
    if pool is not None:
        return pool
    async with _opening.setdefault(key, asyncio.Lock()):
        pool = _pools.get(key)
        if pool is None:
            cfg = get_settings().database
            dsn = make_url(cfg.url).set(drivername="postgresql")
            settings = server_settings(cfg)
            if not durable:
                settings["synchronous_commit"] = "off"
            pool = _pools[key] = await asyncpg.create_pool(
                dsn.render_as_string(hide_password=False),
                min_size=1,
                max_size=cfg.read_pool_size,
                server_settings=settings,
                init=_setup,
                reset=_unchanged,
                # no timer armed at each release to close a connection left idle
                max_inactive_connection_lifetime=0,
            )
    return pool


async def _setup(connection: asyncpg.Connection) -> None:
    """JSON decoded as the engine's connections decode it (a JSON parameter comes serialised
    by its bind processor), and each statement logged when ``database.echo`` asks the engine
    to log its own."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_as_is, decoder=json.loads, schema="pg_catalog"
        )
    if get_settings().database.echo:
        connection.add_query_logger(_echo)


def _as_is(text: str) -> str:
    return text


def _echo(query: asyncpg.connection.LoggedQuery) -> None:
    log.info("%s %r", query.query, query.args)


async def _unchanged(connection: asyncpg.Connection) -> None:
    """A connection given back needs no reset: a read changes no state of its session (the
    default reset cost every read a second round trip)."""


async def close() -> None:
    """Close this process's pools of the running loop (at shutdown)."""
    for durable in (False, True):
        key = (os.getpid(), asyncio.get_running_loop(), durable)
        _opening.pop(key, None)
        pool = _pools.pop(key, None)
        if pool is not None:
            await pool.close()
