"""Test session wiring: real PostgreSQL, a private real Redis, a real Celery worker.

Environment variables are set in ``pytest_configure``, before any ``ticketcreator`` module
reads the settings. Each test that touches the database gets empty tables afterwards: rows
written by the worker process are committed, so rolling back an outer transaction could not
isolate them. The tables holding rows are emptied by ``DELETE`` in one round trip (a
``TRUNCATE`` of every table took 180-320 ms, a fifth of the suite's time).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.mail import SmtpServer
from tests.support.routes import RouteRecorder
from tests.support.services import QUEUES, RedisServer, Worker, free_port, prepare_database

TEST_DATABASE_URL = os.environ.get(
    "TC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/ticketcreator_test"
)

_redis = RedisServer()
_smtp = SmtpServer()
_recorder = RouteRecorder()
SLACK_PORT = free_port()  # the fake Slack of tests/notifications (Web API and webhooks)
TEAMS_PORT = free_port()  # the fake Teams of tests/notifications (Entra tokens, Bot Connector)


def pytest_configure(config: pytest.Config) -> None:
    _redis.start()
    os.environ.update(
        {
            "TC_APP__ENVIRONMENT": "test",
            "TC_DATABASE__URL": TEST_DATABASE_URL,
            "TC_REDIS__URL": _redis.url(0),
            "TC_CELERY__BROKER_URL": _redis.url(1),
            "TC_CELERY__IMPORTS": json.dumps(["tests.support.probe_tasks"]),
            "TC_LOGGING__LEVEL": "INFO",
            # Invitation e-mails go to the SMTP server of ``smtp_server`` (when it runs).
            "TC_MAIL__ENABLED": "true",
            "TC_MAIL__SMTP_HOST": "127.0.0.1",
            "TC_MAIL__SMTP_PORT": str(_smtp.port),
            "TC_MAIL__TIMEOUT_S": "5",
            "TC_MAIL__FROM_ADDRESS": "Ticket Creator <no-reply@example.com>",
            "TC_MAIL__INVITATION_URL": "http://testserver/v1/invitations/accept#token={token}",
            # Ticket e-mails: changes coalesce for 2 s (not a minute), so a test sees the send.
            "TC_EMAIL_NOTIFICATIONS__COALESCE_WINDOW_S": "2",
            "TC_EMAIL_NOTIFICATIONS__UNSUBSCRIBE_URL": (
                "http://testserver/v1/notifications/unsubscribe?token={token}"
            ),
            # Vendor syncs: short waits, so retries and lost work show within a test.
            "TC_INTEGRATIONS__HTTP_TIMEOUT_S": "2",
            "TC_INTEGRATIONS__HTTP_BACKOFF_S": "0.05",
            "TC_INTEGRATIONS__SYNC_LEASE_S": "4",
            "TC_INTEGRATIONS__RETRY_BACKOFF_MAX_S": "1",
            "TC_INTEGRATIONS__RECONCILE_GRACE_S": "3",
            # Webhook tests deliver to receivers on 127.0.0.1 (the admin setting allows it).
            "TC_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES": "true",
            # Teams cards: changes are held for 10 s after a card (not a minute); a run may
            # set its own window (the Teams storm test measures against it).
            "TC_WEBHOOKS__TEAMS_COALESCE_WINDOW_S": os.environ.get(
                "TC_WEBHOOKS__TEAMS_COALESCE_WINDOW_S", "10"
            ),
            # A Teams bot's tokens come from the fake Teams; its cards are updated at most
            # once a second.
            "TC_WEBHOOKS__TEAMS_LOGIN_URL": (
                f"http://127.0.0.1:{TEAMS_PORT}/{{tenant}}/oauth2/v2.0/token"
            ),
            "TC_WEBHOOKS__TEAMS_BOT_UPDATE_INTERVAL_S": "1",
            # Slack is a fake on 127.0.0.1; messages are edited at most once a second.
            "TC_SLACK__API_BASE_URL": f"http://127.0.0.1:{SLACK_PORT}/api",
            "TC_SLACK__WEBHOOK_URL_PREFIX": f"http://127.0.0.1:{SLACK_PORT}/services/",
            "TC_SLACK__UPDATE_INTERVAL_S": "1",
        }
    )
    config.pluginmanager.register(_recorder, "route-recorder")


def pytest_unconfigure(config: pytest.Config) -> None:
    _redis.stop()


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    """The session's Redis; a test that stops it must start it again (see ``redis_down``)."""
    return _redis


@pytest.fixture
def redis_down(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.stop()
    try:
        yield redis_server
    finally:
        if not redis_server.running:
            redis_server.start()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on the configured mail port, for the duration of the test."""
    _smtp.start()
    try:
        yield _smtp
    finally:
        _smtp.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """The SMTP server, not running yet: a test may ``start()`` it (it is stopped after)."""
    try:
        yield _smtp
    finally:
        _smtp.stop()


@pytest.fixture(scope="session")
def database() -> str:
    from ticketcreator import tasks

    prepare_database(TEST_DATABASE_URL)
    tasks.load()  # like the API, this process fans the events it emits out to the subscribers
    return TEST_DATABASE_URL


@pytest.fixture(autouse=True)
async def _isolate(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test: an empty broker and cache (no queued work or rate-limit counts leak
    into the next test), and empty tables if the test used the database."""
    yield
    from ticketcreator.accounts.auth import principals

    principals.clear()  # callers verified in this test are not reused by the next one
    if _redis.running:
        cache, broker = redis.Redis(port=_redis.port, db=0), redis.Redis(port=_redis.port, db=1)
        try:
            cache.flushdb()
            broker.delete(*QUEUES)  # queued jobs; the broker's bindings stay
        finally:
            cache.close()
            broker.close()
    if "database" not in request.fixturenames:
        return
    from sqlalchemy.exc import DBAPIError

    from ticketcreator.core.db import get_engine

    # The worker may still be finishing a task of this test; a lock conflict with it is
    # retried rather than reported as the test's failure.
    for attempt in range(10):
        try:
            async with get_engine().begin() as connection:
                await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                tables, holding_rows = _tables()
                held = set((await connection.execute(text(holding_rows))).scalars())
                if held:
                    # In one round trip (several statements: the simple query protocol).
                    emptying = "; ".join(f'DELETE FROM "{t}"' for t in tables if t in held)
                    raw = await connection.get_raw_connection()
                    await raw.driver_connection.execute(emptying)  # type: ignore[union-attr]
            return
        except DBAPIError:
            if attempt == 9:
                raise
            await asyncio.sleep(0.5)


@functools.cache
def _tables() -> tuple[list[str], str]:
    """Every table, those referencing others first (the reverse of the metadata's order);
    and the query naming those that hold rows."""
    from ticketcreator.models import metadata

    tables = [table.name for table in reversed(metadata.sorted_tables)]
    holding_rows = " UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT FROM \"{name}\")" for name in tables
    )
    return tables, holding_rows


@pytest.fixture
async def session(database: str) -> AsyncIterator[AsyncSession]:
    """A session on the test database, for arranging and checking rows directly."""
    from ticketcreator.core.db import session_factory

    async with session_factory()() as db_session:
        yield db_session


@pytest.fixture(scope="session")
def app() -> Any:
    from ticketcreator.main import create_app

    return create_app()


@pytest.fixture
async def client(app: Any, database: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process; every call is recorded for the route gate."""
    transport = httpx.ASGITransport(app=_recorder.wrap(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def _worker_process(database: str, redis_server: RedisServer) -> Iterator[Worker]:
    worker = Worker({key: value for key, value in os.environ.items() if key.startswith("TC_")})
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(_worker_process: Worker) -> Iterator[Worker]:
    """A real worker that consumes every queue for the duration of the test."""
    _worker_process.consume(True)
    yield _worker_process
    _worker_process.consume(False)
