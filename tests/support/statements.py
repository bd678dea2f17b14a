"""Counting the SQL statements this process sends while a block of a test runs: through the
engine, and through the read pool (:mod:`ticketcreator.core.reads`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event

from ticketcreator.core.db import get_engine

TICKET_ROW_READ = re.compile(r"^SELECT\b.*\bFROM ticket\b(?! ?[,.])", re.DOTALL)
"""A SELECT of ``ticket`` rows (the ticket being looked up, not a count or a join into it)."""


@contextmanager
def statements_matching(pattern: re.Pattern[str]) -> Iterator[list[str]]:
    """The statements matching ``pattern`` sent by the in-process app while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if pattern.search(statement):
            seen.append(statement)

    def recording(method: Any) -> Any:
        async def run(
            connection: asyncpg.Connection, statement: str, *args: Any, **kwargs: Any
        ) -> Any:
            record(None, None, statement)
            return await method(connection, statement, *args, **kwargs)

        return run

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with (
            mock.patch.object(asyncpg.Connection, "fetch", recording(asyncpg.Connection.fetch)),
            mock.patch.object(
                asyncpg.Connection, "fetchrow", recording(asyncpg.Connection.fetchrow)
            ),
        ):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
