"""The journal: history rows and outbox events written together, in one statement, before
the next statement of the session or with the commit; discarded by a rollback, a savepoint's
rollback discarding only what was appended within it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import events, journal
from ticketcreator.core.db import commit, get_engine, session_factory
from ticketcreator.core.events import Topic
from ticketcreator.core.outbox import OutboxEvent

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
