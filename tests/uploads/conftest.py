from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.live import serve_api


@dataclass(frozen=True)
class ApiServer:
    """The API in a real ``uvicorn`` process, for clients that speak HTTP over sockets."""

    url: str


@pytest.fixture(scope="session")
def api_server(database: str) -> Iterator[ApiServer]:
    with serve_api() as url:
        yield ApiServer(url)
