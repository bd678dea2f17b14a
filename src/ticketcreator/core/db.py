"""PostgreSQL access: declarative base, engine per process, and the request unit of work.

A request gets one session (created on first use by the :func:`get_session` dependency).
:class:`UnitOfWorkRoute` commits it exactly once, after the handler has succeeded and before
the response is sent, so a failed commit is reported to the client; any exception rolls
back. Services flush but never commit. Before the commit, callbacks registered with
:func:`before_commit` run in the transaction (the reactions to its events); after it, those
registered with :func:`after_commit` (the outbox uses this to hand events to the broker): in a
request, in a task of their own once the response is on its way, so that a keep-alive
connection's next request does not wait for them.

A request PostgreSQL fails to end a deadlock or a serialization conflict (SQLSTATE ``40P01``,
``40001``) changed nothing, as one that lost a race a concurrent request won (:class:`Raced`);
the unit of work runs it again from the start, up to ``database.conflict_retries`` times, then
answers 503 with ``Retry-After``. A request whose body was read as a stream is not run twice
(the body is gone).

Reads (``GET`` and ``HEAD``) run each statement in its own implicit transaction
(autocommit): they change nothing worth a transaction, and skipping ``BEGIN`` and ``COMMIT``
saves two round trips per request. A read that must see several tables at one instant does
it in one statement. Its session is committed only when a change waits to be flushed (a read
that records something); otherwise there is nothing to commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response, params
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ticketcreator.core import journal
from ticketcreator.core.config import get_settings
from ticketcreator.core.config_sections import DatabaseSection
from ticketcreator.core.errors import ConcurrentChange
from ticketcreator.core.storable import reject_unstorable_text

log = logging.getLogger(__name__)

# Deadlock detected, serialization failure: PostgreSQL failed the transaction, nothing else.
_CONFLICTS = frozenset({"40P01", "40001"})

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Raced(Exception):
    """The request lost a race to a concurrent one that committed first (the same
    ``Idempotency-Key``; a change to the ticket it changes without the lock): it changed
    nothing, and run again it sees the winner's work (:func:`retried`)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


_engines: dict[int, AsyncEngine] = {}


def get_engine() -> AsyncEngine:
    """The engine of this process (a forked worker child builds its own pool)."""
    pid = os.getpid()
    engine = _engines.get(pid)
    if engine is None:
        cfg = get_settings().database
        connect_args: dict[str, Any] = {"server_settings": server_settings(cfg)}
        engine = create_async_engine(
            cfg.url,
            pool_size=cfg.pool_size,
            max_overflow=cfg.max_overflow,
            pool_timeout=cfg.pool_timeout_s,
            pool_pre_ping=cfg.pool_pre_ping,
            pool_recycle=cfg.pool_recycle_s,
            echo=cfg.echo,
            connect_args=connect_args,
        )
        _engines[pid] = engine
    return engine


def server_settings(cfg: DatabaseSection) -> dict[str, str]:
    """The settings every connection of this process opens with."""
    settings: dict[str, str] = {}
    if cfg.statement_timeout_ms:
        settings["statement_timeout"] = str(cfg.statement_timeout_ms)
    if cfg.idle_in_transaction_timeout_ms:
        # A transaction left open (a stuck request or task) cannot hold a connection forever.
        settings["idle_in_transaction_session_timeout"] = str(cfg.idle_in_transaction_timeout_ms)
    return settings


async def dispose_engine() -> None:
    engine = _engines.pop(os.getpid(), None)
    if engine is not None:
        for autocommit in (False, True):
            _factories.pop((id(engine), autocommit), None)
        await engine.dispose()


_factories: dict[tuple[int, bool], async_sessionmaker[AsyncSession]] = {}


_AUTOCOMMIT = "ticketcreator_autocommit"


def _factory(engine: AsyncEngine, autocommit: bool) -> async_sessionmaker[AsyncSession]:
    key = (id(engine), autocommit)
    found = _factories.get(key)
    if found is None:
        bind = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine
        found = _factories[key] = async_sessionmaker(
            bind, expire_on_commit=False, autoflush=False, info={_AUTOCOMMIT: autocommit}
        )
    return found


def session_factory() -> async_sessionmaker[AsyncSession]:
    return _factory(get_engine(), autocommit=False)


def read_session_factory() -> async_sessionmaker[AsyncSession]:
    """Sessions whose statements commit on their own (no BEGIN/COMMIT), for reads."""
    return _factory(get_engine(), autocommit=True)


_READS = frozenset({"GET", "HEAD"})


_AFTER_COMMIT = "ticketcreator_after_commit"
_IN_REQUEST = "ticketcreator_in_request"
_RETRIED = "ticketcreator_retried"
AfterCommit = Callable[[], Coroutine[Any, Any, None]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once this session's transaction has committed (dropped on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def pop_after_commit(session: AsyncSession) -> list[AfterCommit]:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    return callbacks


_BEFORE_COMMIT = "ticketcreator_before_commit"


def before_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` in this session's transaction before it commits (work that commits
    with the change or not at all; the events use it for their reactions)."""
    session.info.setdefault(_BEFORE_COMMIT, []).append(callback)


async def run_before_commit(session: AsyncSession) -> None:
    """Run the callbacks registered so far, and those they register, in order."""
    while callbacks := session.info.pop(_BEFORE_COMMIT, None):
        for callback in callbacks:
            await callback()


@event.listens_for(Session, "before_commit")
def _unran_before_commit(session: Session) -> None:
    if session.info.pop(_BEFORE_COMMIT, None):
        log.error("committed without running its before-commit work; commit with core.db.commit")


async def commit(session: AsyncSession) -> None:
    """Run the before-commit callbacks, commit, then run the after-commit callbacks (for code
    outside a request: tasks, CLI)."""
    await run_before_commit(session)
    await session.commit()
    for callback in pop_after_commit(session):
        await callback()


async def release_connection(session: AsyncSession) -> None:
    """Commit what the request did so far and give its connection back to the pool.

    For handlers that wait on the client (reading a request body): a slow client must not
    hold a connection. The session stays usable; its next statement opens a new transaction,
    which the unit of work commits as usual. After-commit callbacks still run after that
    final commit.
    """
    await run_before_commit(session)
    await session.commit()


async def get_session(request: Request) -> AsyncSession:
    """The request's session; committed by :class:`UnitOfWorkRoute`."""
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        factory = read_session_factory() if request.method in _READS else session_factory()
        session = factory()
        session.info[_IN_REQUEST] = True
        if getattr(request.state, "db_attempt", 0):  # set by UnitOfWorkRoute
            session.info[_RETRIED] = True
        request.state.db_session = session
    return session


def in_request(session: AsyncSession) -> bool:
    """Whether ``session`` is a request's, committed by :class:`UnitOfWorkRoute`."""
    return bool(session.info.get(_IN_REQUEST))


def retried(session: AsyncSession) -> bool:
    """Whether ``session`` is that of a request run again after it lost a conflict (a write
    that lost a race to a concurrent one then takes the way that waits for it)."""
    return bool(session.info.get(_RETRIED))


class UnitOfWorkRoute(APIRoute):
    """Commits the request's session once after the handler succeeded, before responding.

    Text PostgreSQL cannot store is refused (422) before the handler runs.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        json_body = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )

        async def run(request: Request) -> Response:
            # Made by the first get_session; set first, reading it never raises (a missing
            # attribute of the request's state is an exception, twice per request).
            request.state.db_session = None
            await reject_unstorable_text(request, json_body=json_body)
            retries = get_settings().database.conflict_retries
            attempt = 0
            while True:
                request.state.db_attempt = attempt
                try:
                    return await _attempt(request, handler)
                except (DBAPIError, Raced) as exc:
                    sqlstate = _conflict(exc)
                    if sqlstate is None:
                        raise
                    attempt += 1
                    if attempt > retries or not _replayable(request):
                        raise ConcurrentChange(
                            "Another change to the same data was being made at the same time; "
                            "nothing was changed. Send the request again.",
                            headers={"Retry-After": "1"},
                        ) from exc
                    log.info(
                        "request lost a database conflict; running it again",
                        extra={"attempt": attempt, "sqlstate": sqlstate},
                    )
                    await asyncio.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311

        return run


def _conflict(exc: DBAPIError | Raced) -> str | None:
    """Why a request that failed with ``exc`` changed nothing and may run again (the
    SQLSTATE of a conflict, or ``raced``); None when it may not."""
    if isinstance(exc, Raced):
        return "raced"
    sqlstate: str | None = getattr(exc.orig, "sqlstate", None)
    return sqlstate if sqlstate in _CONFLICTS else None


async def _attempt(
    request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    try:
        response = await handler(request)
        session: AsyncSession | None = getattr(request.state, "db_session", None)
        if session is not None:
            await run_before_commit(session)
            if _has_work(session):
                await session.commit()
            callbacks = pop_after_commit(session)
            if callbacks:
                _run_after_response(callbacks)
        return response
    finally:
        session = getattr(request.state, "db_session", None)
        if session is not None:
            request.state.db_session = None
            session.info.pop(_BEFORE_COMMIT, None)
            pop_after_commit(session)
            if session.in_transaction():
                # Otherwise it holds no connection (never used, or committed): closing it
                # cost a ticket's read a twentieth of its CPU for nothing.
                await session.close()


def untouched(session: AsyncSession) -> bool:
    """Whether ``session`` has begun no transaction and holds nothing to flush or to run
    before its commit: one statement carrying the rows its journal holds would then be its
    whole transaction (:func:`ticketcreator.core.reads.execute`)."""
    return not (
        session.in_transaction()
        or session.info.get(_BEFORE_COMMIT)
        or session.new
        or session.dirty
        or session.deleted
    )


def _has_work(session: AsyncSession) -> bool:
    """Whether committing would change anything: a transaction was begun and, for a read's
    session (each statement already committed on its own), a change waits to be flushed or
    journal rows to be written (:mod:`ticketcreator.core.journal`).
    Committing for nothing cost a read a tenth of its CPU."""
    if not session.in_transaction():
        return journal.pending(session)
    return (
        not session.info[_AUTOCOMMIT]
        or bool(session.new or session.dirty or session.deleted)
        or journal.pending(session)
    )


def _replayable(request: Request) -> bool:
    """Whether the handler can run again: its body, if it read one, is kept (Starlette keeps
    what ``request.body()`` read; a body read with ``request.stream()`` is gone)."""
    return hasattr(request, "_body") or not getattr(request, "_stream_consumed", False)


# After-commit work of requests already answered (referenced until it is done).
_after_response: set[asyncio.Task[None]] = set()


def _run_after_response(callbacks: list[AfterCommit]) -> None:
    """Run a request's after-commit callbacks in a task of their own, so that the response is
    sent and the connection takes its next request without waiting for them."""

    async def run() -> None:
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                log.exception("after-commit work of a request failed")

    task = asyncio.get_running_loop().create_task(run())
    _after_response.add(task)
    task.add_done_callback(_after_response.discard)


async def finish_after_response_work() -> None:
    """Wait until the after-commit work of the requests already answered by this event loop
    is done: a stopping API process hands over what it committed instead of leaving it to the
    relay."""
    loop = asyncio.get_running_loop()
    # Only the tasks not done yet: a finished one stays in the set until its done callback
    # runs, and awaiting it again would return without ever letting that callback run.
    while running := [t for t in _after_response if t.get_loop() is loop and not t.done()]:
        await asyncio.wait(running)
