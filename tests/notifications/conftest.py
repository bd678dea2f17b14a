"""A fake customer system (an HTTP server on 127.0.0.1 that records what it receives and
answers with the statuses a test asks for), a fake Slack and a fake Teams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from starlette.types import Receive, Scope, Send

from tests.notifications.slack_fake import FakeSlack
from tests.notifications.teams_fake import FakeTeams
from tests.support.local_server import read_request, serving
from ticketcreator.core.config import get_settings


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers, body = await read_request(scope, receive)
        self.requests.append(Received(scope["path"], headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"thanks" if status < 300 else b"nope"})


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """A fake webhook receiver serving on a free port."""
    fake = Receiver()
    async with serving(fake) as port:
        fake.port = port
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as fake:
        yield fake


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack, on the port the settings point the product at."""
    port = urlsplit(get_settings().slack.api_base_url).port
    assert port is not None
    fake = FakeSlack(port)
    async with serving(fake, port):
        yield fake


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    """The fake Teams, on the port the token URL of the settings points at."""
    port = urlsplit(get_settings().webhooks.teams_login_url).port
    assert port is not None
    fake = FakeTeams(port)
    async with serving(fake, port):
        yield fake
