"""Problem details and the request unit of work, on a small app built from the real parts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import db, events
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import UnitOfWorkRoute, after_commit, get_session, session_factory
from ticketcreator.core.deps import public
from ticketcreator.core.errors import Conflict, install_error_handlers
from ticketcreator.core.logging import JsonFormatter
from ticketcreator.core.middleware import RequestIdMiddleware
from ticketcreator.core.outbox import OutboxEvent


class Payload(BaseModel):
    title: str = Field(min_length=3)
    count: int


LOSE = text(
    "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected'; END $$"
)


def _probe_app() -> FastAPI:
    router = APIRouter(route_class=UnitOfWorkRoute)
    runs: list[str] = []

    @router.post("/events/conflicted")
    async def write_then_lose(
        body: Payload, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> dict[str, Any]:
        """Fails like the victim of a deadlock on its first ``count`` runs."""
        event_id = events.emit(session, "probe.created", {"title": body.title})
        await session.flush()
        runs.append(body.title)
        if len(runs) <= body.count:
            await session.execute(LOSE)
        return {"id": str(event_id), "runs": len(runs)}

    @router.post("/events/streamed")
    async def read_then_lose(
        request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> None:
        """Reads its body as a stream (it cannot be read twice), then loses a deadlock."""
        title = b"".join([chunk async for chunk in request.stream()]).decode()
        runs.append(title)
        events.emit(session, "probe.created", {"title": title})
        await session.execute(LOSE)

    @router.post("/events")
    async def write(
        body: Payload, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> dict[str, str]:
        event_id = events.emit(session, "probe.created", {"title": body.title})
        return {"id": str(event_id)}

    @router.get("/events/seen")
    async def read_then_write(
        session: Annotated[AsyncSession, Depends(get_session)],
    ) -> dict[str, str]:
        """A read that records something (no flush): committed like a write's change."""
        await session.execute(text("SELECT 1"))
        event_id = events.emit(session, "probe.seen", {"title": "seen"})
        return {"id": str(event_id)}

    @router.post("/events/fail")
    async def write_then_fail(session: Annotated[AsyncSession, Depends(get_session)]) -> None:
        events.emit(session, "probe.created", {"title": "lost"})
        await session.flush()
        raise Conflict("Something already happened.", hint="try later")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(RequestIdMiddleware)
    return app


@pytest.fixture
async def probe(database: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_probe_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        yield http


async def _events() -> list[OutboxEvent]:
    from sqlalchemy import select

    async with session_factory()() as db:
        return list((await db.scalars(select(OutboxEvent))).all())


async def test_successful_handler_commits_its_changes(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/events", json={"title": "hello", "count": 1})
    assert response.status_code == 200
    events = await _events()
    assert [str(event.id) for event in events] == [response.json()["id"]]


async def test_a_read_commits_what_its_handler_recorded(probe: httpx.AsyncClient) -> None:
    response = await probe.get("/events/seen")
    assert response.status_code == 200
    assert [str(event.id) for event in await _events()] == [response.json()["id"]]


async def test_failing_handler_rolls_back_and_answers_a_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/events/fail")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://docs.ticketcreator.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "Something already happened.",
        "instance": "/events/fail",
        "hint": "try later",
    }
    assert await _events() == []


async def test_validation_errors_list_each_field(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/events", json={"title": "x", "count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    locations = {error["location"]: error for error in problem["errors"]}
    assert set(locations) == {"body.title", "body.count"}
    assert locations["body.count"]["type"] == "int_parsing"


async def test_malformed_json_is_a_validation_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_unexpected_errors_hide_internals_but_are_logged(
    probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert response.json()["type"].endswith("/internal-error")
    assert response.headers["x-request-id"] == "req-500"
    record = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert record.exc_info is not None


async def test_a_request_that_loses_a_deadlock_is_run_again_from_the_start(
    probe: httpx.AsyncClient,
) -> None:
    retries = get_settings().database.conflict_retries
    response = await probe.post("/events/conflicted", json={"title": "again", "count": retries})
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == retries + 1
    assert [str(event.id) for event in await _events()] == [response.json()["id"]]


async def test_a_request_that_keeps_losing_is_refused_as_retryable_with_nothing_written(
    probe: httpx.AsyncClient,
) -> None:
    retries = get_settings().database.conflict_retries
    response = await probe.post("/events/conflicted", json={"title": "never", "count": 99})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["type"].endswith("/concurrent-change")
    assert "deadlock" not in response.text
    assert await _events() == []
    again = await probe.post("/events/conflicted", json={"title": "next", "count": 0})
    assert again.json()["runs"] == retries + 2, "the refused request ran retries + 1 times"


async def test_a_request_whose_streamed_body_is_read_is_not_run_twice(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.post("/events/streamed", content=b"once")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert await _events() == []
    again = await probe.post("/events/conflicted", json={"title": "next", "count": 0})
    assert again.json()["runs"] == 2, "the streamed request ran once"


def test_json_log_lines_carry_the_request_id_and_extras() -> None:
    from ticketcreator.core.logging import request_id_var

    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
        record.ticket = "T-1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello you"
    assert line["request_id"] == "req-42"
    assert line["ticket"] == "T-1"
    assert line["level"] == "INFO"
    assert abs(datetime.fromisoformat(line["time"]).timestamp() - record.created) < 1e-6


def test_json_log_lines_tell_the_time_to_the_microsecond_across_seconds() -> None:
    formatter = JsonFormatter()
    # The date and seconds are formatted once a second: lines within and across a second.
    for created in (1_796_000_000.25, 1_796_000_000.999999, 1_796_000_001.0, 1_796_000_000.5):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "tick", (), None)
        record.created = created
        shown = datetime.fromisoformat(json.loads(formatter.format(record))["time"])
        assert abs(shown.timestamp() - created) < 1e-6
        assert shown.utcoffset() == timedelta(0)


def test_plain_log_format_can_be_chosen(capsys: pytest.CaptureFixture[str]) -> None:
    from ticketcreator.core.logging import configure_logging

    configure_logging("INFO", json_format=False)
    try:
        logging.getLogger("ticketcreator.test").info("plain line")
        assert "INFO ticketcreator.test [-] plain line" in capsys.readouterr().err
    finally:
        configure_logging("INFO", json_format=True)


async def test_a_stopping_api_finishes_what_answered_requests_committed(database: str) -> None:
    from ticketcreator.main import create_app

    app = create_app()
    handed_over: list[str] = []
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.post("/probe/after-commit", dependencies=[Depends(public)])
    async def slow_after_commit(session: Annotated[AsyncSession, Depends(get_session)]) -> None:
        async def hand_over() -> None:
            await asyncio.sleep(0.3)
            handed_over.append("done")

        after_commit(session, hand_over)

    app.include_router(router)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            assert (await http.post("/probe/after-commit")).status_code == 200
        assert handed_over == []  # the answer did not wait for it
    assert handed_over == ["done"]  # the stopping app did


@pytest.mark.timeout(20)
async def test_finishing_after_response_work_returns_when_a_done_task_awaits_its_callback() -> None:
    # A task that has just finished stays in the set until its done callback runs on the
    # next turn of the loop; waiting for the work must give the loop that turn, not spin.
    finished = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    await finished
    db._after_response.add(finished)  # as if its done callback had not run yet
    try:
        await asyncio.wait_for(db.finish_after_response_work(), 5)
    finally:
        db._after_response.discard(finished)
