from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import ApiServer


@pytest.fixture(scope="session")
def api_server(database: str) -> Iterator[ApiServer]:
    server = ApiServer()
    server.start()
    yield server
    server.stop()
