from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.captures.support import SENTENCE, recording, screenshot, settle


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transcripts")


@pytest.fixture(scope="session")
def narrated(media: Path) -> Path:
    return recording(media / "narrated.webm", speech=SENTENCE)


@pytest.fixture(scope="session")
def mute(media: Path) -> Path:
    return recording(media / "mute.webm", speech=None)


@pytest.fixture(scope="session")
def page_shot(media: Path) -> Path:
    return screenshot(media)


@pytest.fixture(autouse=True)
async def _worker_done(session: AsyncSession) -> AsyncIterator[None]:
    yield
    await settle(session)
