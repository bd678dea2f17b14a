from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage.moto import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()
