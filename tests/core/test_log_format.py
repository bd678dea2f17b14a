"""A log line is one JSON object: time, level, logger, message, the request id and the
record's extra fields, any value JSON has no type for written as its text."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asyncpg.pgproto.pgproto import UUID as ReadUUID  # type: ignore[import-untyped]

from ticketcreator.core.logging import JsonFormatter, request_id_var


def _line(**fields: object) -> dict[str, object]:
    record = logging.makeLogRecord(
        {"name": "ticketcreator.test", "levelname": "INFO", "msg": "saw %s", "args": ("it",)}
    )
    record.created = datetime(2026, 12, 6, 9, 30, 5, 250000, tzinfo=UTC).timestamp()
    record.__dict__.update(fields)
    token = request_id_var.set("req-1")
    try:
        text = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


@pytest.mark.parametrize("count", [7, 2**70], ids=["orjson", "past 64 bits"])
def test_a_line_holds_the_record_its_request_and_its_extra_fields(count: int) -> None:
    """The same line whether orjson writes it or, for an integer past 64 bits, ``json``."""
    ticket_id, read_id = uuid.uuid4(), ReadUUID(str(uuid.uuid4()))
    line = _line(
        ticket_id=ticket_id,
        read_id=read_id,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        amount=Decimal("1.50"),
        count=count,
        status=404,
        duration_ms=1.25,
        text='Zürich "quoted" \u2028',
        nested={"ids": [ticket_id]},
        _private="left out",
    )
    assert line == {
        "time": "2026-12-06T09:30:05.250000+00:00",
        "level": "INFO",
        "logger": "ticketcreator.test",
        "message": "saw it",
        "request_id": "req-1",
        "ticket_id": str(ticket_id),
        "read_id": str(read_id),
        "at": "2026-01-02T03:04:05+00:00",
        "amount": "1.50",
        "count": count,
        "status": 404,
        "duration_ms": 1.25,
        "text": 'Zürich "quoted" \u2028',
        "nested": {"ids": [str(ticket_id)]},
    }


def test_a_line_carries_the_exception_it_was_logged_with() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        info = sys.exc_info()
    line = _line(exc_info=info)
    assert isinstance(line["exception"], str)
    assert line["exception"].endswith("ValueError: broken")
