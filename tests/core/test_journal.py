"""The journal: history rows and outbox events written together, in one statement, before
the next statement of the session or with the commit; discarded by a rollback, a savepoint's
rollback discarding only what was appended within it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import events, journal
from ticketcreator.core.db import commit, get_engine, session_factory
from ticketcreator.core.events import Topic
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.tickets.models import Status

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def inserts() -> Iterator[list[str]]:
    """The statements sent to PostgreSQL meanwhile that write history or outbox rows."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        statement: str = args[2]
        if statement.startswith(("INSERT INTO outbox_event", "INSERT INTO ticket_event", "WITH")):
            sent.append(statement)

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _emit(session: AsyncSession) -> str:
    marker = str(uuid.uuid4())
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": marker})
    return marker


async def _stored(markers: list[str]) -> set[str]:
    async with session_factory()() as reader:
        payloads = await reader.scalars(
            select(OutboxEvent.payload["ticket_id"].astext).where(
                OutboxEvent.payload["ticket_id"].astext.in_(markers)
            )
        )
        return set(payloads)


async def test_rows_are_written_with_the_commit_in_one_statement(
    session: AsyncSession, inserts: list[str]
) -> None:
    markers = [_emit(session) for _ in range(3)]
    assert journal.pending(session)
    assert await _stored(markers) == set()

    await commit(session)

    assert await _stored(markers) == set(markers)
    assert len(inserts) == 1
    assert not journal.pending(session)


async def test_a_statement_through_the_session_sees_the_rows_appended_before_it(
    session: AsyncSession,
) -> None:
    marker = _emit(session)
    seen = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.payload["ticket_id"].astext == marker)
    )
    assert seen == 1
    assert not journal.pending(session)

    await session.rollback()

    assert await _stored([marker]) == set()


async def test_a_rollback_discards_rows_not_yet_written(session: AsyncSession) -> None:
    await session.execute(select(1))
    marker = _emit(session)

    await session.rollback()
    await commit(session)

    assert not journal.pending(session)
    assert await _stored([marker]) == set()


async def test_a_savepoint_rollback_discards_only_the_rows_appended_within_it(
    session: AsyncSession,
) -> None:
    before = _emit(session)
    try:
        async with session.begin_nested():
            within = _emit(session)
            # A statement inside the savepoint writes its rows, not those appended before
            # it: the savepoint's rollback must not take them along.
            await session.execute(select(1))
            raise RuntimeError("the savepoint's work fails")
    except RuntimeError:
        pass
    async with session.begin_nested():
        kept = _emit(session)
        await session.execute(select(1))
    after = _emit(session)

    await commit(session)

    assert await _stored([before, within, kept, after]) == {before, kept, after}


async def test_rows_appended_before_the_first_statement_commit_with_it(
    session: AsyncSession,
) -> None:
    assert not session.in_transaction()
    marker = _emit(session)

    await commit(session)

    assert await _stored([marker]) == {marker}


async def test_values_are_stored_as_json_holds_them(session: AsyncSession) -> None:
    """Ids and enumerations as strings, times in ISO 8601 (with their offset, microseconds
    only when there are some), any text, and integers of any size, as the journal's readers
    (history, event subscribers) expect them."""
    marker = str(uuid.uuid4())
    ticket_id = uuid.uuid4()
    payload = {
        "ticket_id": marker,
        "ids": [ticket_id],
        "at": datetime(2026, 12, 6, 9, 30, 5, 120, tzinfo=UTC),
        "whole_second": datetime(2026, 12, 6, 9, 30, 5, tzinfo=timezone(timedelta(hours=2))),
        "status": Status.IN_PROGRESS,
        "text": 'Zürich — 東京 \U0001f41e "quoted" \\ back',
        "huge": 2**70,
        "nested": {"empty": [], "none": None, "flag": True, "ratio": 0.25},
    }
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, payload)
    await commit(session)

    async with session_factory()() as reader:
        stored = await reader.scalar(
            select(OutboxEvent.payload).where(OutboxEvent.payload["ticket_id"].astext == marker)
        )
    assert stored == {
        "ticket_id": marker,
        "ids": [str(ticket_id)],
        "at": "2026-12-06T09:30:05.000120+00:00",
        "whole_second": "2026-12-06T09:30:05+02:00",
        "status": "in_progress",
        "text": 'Zürich — 東京 \U0001f41e "quoted" \\ back',
        "huge": 2**70,
        "nested": {"empty": [], "none": None, "flag": True, "ratio": 0.25},
    }


async def test_ids_read_from_postgresql_are_written_without_the_slow_encoder(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id as asyncpg reads it (its own UUID class, not ``uuid.UUID``) is written by orjson
    like any other id: every row of a ticket's change holds some (the organization's, the
    actor's), and ``json.dumps`` took a PATCH's rows whole whenever orjson refused one."""
    read_id = await session.scalar(text("SELECT gen_random_uuid()"))
    assert type(read_id) is not uuid.UUID
    marker = str(uuid.uuid4())

    def slow(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("the rows went through json.dumps")

    monkeypatch.setattr("ticketcreator.core.journal.json.dumps", slow)
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": marker, "id": read_id})
    await commit(session)

    async with session_factory()() as reader:
        stored = await reader.scalar(
            select(OutboxEvent.payload).where(OutboxEvent.payload["ticket_id"].astext == marker)
        )
    assert stored == {"ticket_id": marker, "id": str(read_id)}


async def test_a_value_json_cannot_hold_is_refused_by_name(session: AsyncSession) -> None:
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": "x", "set": {1, 2}})
    with pytest.raises(TypeError, match="set is not a journal value"):
        await commit(session)
