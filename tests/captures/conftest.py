from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.captures.support import recording


@pytest.fixture(scope="session")
def silent_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A two-second tab recording without an audio track."""
    return recording(tmp_path_factory.mktemp("captures") / "video.webm", speech=None).read_bytes()


@pytest.fixture(scope="session")
def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
