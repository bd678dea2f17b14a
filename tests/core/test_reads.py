"""Reads on the read pool: the rows the engine returns, a statement compiled once with its
parameters bound as the engine binds them, a read waiting a bounded time for a connection."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    ARRAY,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Uuid,
    bindparam,
    column,
    func,
    literal,
    select,
    text,
    values,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.settings import overridden
from ticketcreator.core import reads
from ticketcreator.core.config import get_settings

pytestmark = pytest.mark.usefixtures("database")

_TYPED = select(
    bindparam("id", type_=Uuid()).label("id"),
    bindparam("doc", type_=JSONB()).label("doc"),
    bindparam("names", type_=ARRAY(String())).label("names"),
    bindparam("at", type_=DateTime(timezone=True)).label("at"),
    bindparam("n", type_=Integer()).label("n"),
    bindparam("ratio", type_=Float()).label("ratio"),
    bindparam("title", type_=String()).label("title"),
    bindparam("nothing", type_=String()).label("nothing"),
)

_NUMBERS = values(column("n", Integer), name="numbers").data([(1,), (2,), (3,), (4,)])


async def test_a_read_returns_what_the_engine_returns(session: AsyncSession) -> None:
    given = {
        "id": uuid.uuid4(),
        "doc": {"steps": ["open", "pay"], "count": 2, "nested": {"ok": True, "none": None}},
        "names": ["b", "a"],
        "at": datetime(2026, 12, 5, 13, 30, tzinfo=UTC),
        "n": 7,
        "ratio": 0.25,
        "title": "Checkout fails",
        "nothing": None,
    }
    row = await reads.fetch_one(_TYPED, given)
    engine_row = (await session.execute(_TYPED, given)).mappings().one()
    assert row is not None
    assert dict(row) == dict(engine_row) == given


async def test_a_list_parameter_expands_as_the_engine_expands_it() -> None:
    statement = (
        select(_NUMBERS.c.n)
        .where(_NUMBERS.c.n.in_(bindparam("wanted", expanding=True)))
        .order_by(_NUMBERS.c.n)
    )
    assert [row["n"] for row in await reads.fetch(statement, {"wanted": [4, 1]})] == [1, 4]
    assert [row["n"] for row in await reads.fetch(statement, {"wanted": [2, 3, 9]})] == [2, 3]
    assert await reads.fetch(statement, {"wanted": []}) == []
    assert await reads.fetch_one(statement, {"wanted": [9]}) is None


async def test_a_column_the_engine_would_convert_is_refused_by_name() -> None:
    statement = select(literal(Decimal("1.5"), Numeric(asdecimal=False)).label("amount"))
    with pytest.raises(TypeError, match="'amount'"):
        await reads.fetch_one(statement, {})


async def test_connections_open_with_the_engines_statement_timeout(session: AsyncSession) -> None:
    statement = text("SELECT current_setting('statement_timeout') AS timeout")
    row = await reads.fetch_one(statement, {})
    assert row is not None
    assert row["timeout"] == (await session.execute(statement)).scalar_one() == "30s"


async def test_connections_commit_without_waiting_for_the_disk(session: AsyncSession) -> None:
    """A ticket number's bump (the one write here) frees its row without a WAL flush; the
    engine's transactions still wait for theirs."""
    statement = text("SELECT current_setting('synchronous_commit') AS value")
    row = await reads.fetch_one(statement, {})
    assert row is not None
    assert row["value"] == "off"
    assert (await session.execute(statement)).scalar_one() == "on"


async def test_a_read_waits_for_a_free_connection_at_most_the_pool_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeping = select(func.pg_sleep(1.0).label("slept"))
    await reads.fetch_one(select(literal(1).label("warm")), {})
    with overridden(monkeypatch, TC_DATABASE__POOL_TIMEOUT_S="0.2"):
        size = get_settings().database.read_pool_size
        holders = [asyncio.create_task(reads.fetch_one(sleeping, {})) for _ in range(size)]
        await asyncio.sleep(0.2)  # every connection of the pool is busy
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await reads.fetch_one(select(literal(1).label("one")), {})
        waited = time.monotonic() - started
        await asyncio.gather(*holders)
    assert 0.15 <= waited < 0.6
    row = await reads.fetch_one(select(literal(1).label("one")), {})
    assert row is not None
    assert row["one"] == 1


async def test_statements_are_logged_when_the_engine_logs_its_own(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    statement = select(literal("echoed").label("word"))
    await reads.close()  # connections are set up when opened
    try:
        with (
            overridden(monkeypatch, TC_DATABASE__ECHO="true"),
            caplog.at_level(logging.INFO, logger="ticketcreator.core.reads"),
        ):
            await reads.fetch_one(statement, {})
        assert any("echoed" in record.getMessage() for record in caplog.records)
    finally:
        await reads.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ticketcreator.core.reads"):
        await reads.fetch_one(statement, {})
    assert caplog.records == []


_SESSION = select(
    func.pg_backend_pid().label("pid"),
    func.current_setting("synchronous_commit").label("sync"),
)


async def _session_of(statement: Any) -> tuple[int, str]:
    row = await statement
    assert row is not None
    return row["pid"], row["sync"]


async def test_statements_within_one_connection_share_it_and_wait_for_the_disk() -> None:
    """A request's statements of their own (a change's read and its write) take one connection
    between them, of the pool whose commits wait for the WAL flush; a task started meanwhile
    takes its own, and a ticket number's bump still does not wait."""
    async with reads.one_connection():
        first = await _session_of(reads.fetch_one(_SESSION, {}))
        async with reads.one_connection():
            nested = await reads.fetch(_SESSION, {})
        last = await _session_of(reads.execute(_SESSION, {}))
        alongside = await asyncio.gather(
            *(_session_of(reads.fetch_one(_SESSION, {})) for _ in range(2))
        )
        bumped = await _session_of(reads.execute_unflushed(_SESSION, {}))
    assert first == (nested[0]["pid"], "on") == last
    assert all(pid != first[0] for pid, _ in alongside)
    assert bumped[1] == "off"
    assert (await _session_of(reads.fetch_one(_SESSION, {})))[1] == "off"


async def _fail_within_one_connection() -> None:
    failing = select((literal(1) / literal(0)).label("broken"))
    async with reads.one_connection():
        await reads.fetch_one(_SESSION, {})
        await reads.execute(failing, {})


async def test_one_connection_is_given_back_whatever_happens_within(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with overridden(monkeypatch, TC_DATABASE__POOL_TIMEOUT_S="0.2"):
        for _ in range(get_settings().database.read_pool_size + 1):
            with pytest.raises(DBAPIError):
                await _fail_within_one_connection()
        async with reads.one_connection():
            assert (await _session_of(reads.fetch_one(_SESSION, {})))[1] == "on"
