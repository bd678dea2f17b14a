from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.moto import MotoServer


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What Chrome's MediaRecorder writes: WebM, VP9 + Opus, streamed without a duration."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (see scripts/apt-packages.txt)")
    dest = tmp_path_factory.mktemp("recording") / "tab-recording.webm"
    argv = [
        "ffmpeg", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "100k",
        "-c:a", "libopus", "-f", "webm", "-",
    ]  # fmt: skip
    with dest.open("wb") as out:
        subprocess.run(argv, check=True, stdout=out, stderr=subprocess.DEVNULL)
    return dest


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()
