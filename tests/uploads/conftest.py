from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import ROOT, free_port


class ApiServer:
    """The API in a real ``uvicorn`` process, for clients that speak HTTP over sockets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log = Path(f"/tmp/tc-api-{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # The checkout's own sources first, whichever checkout the virtualenv was made in.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "ticketcreator.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("API did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture(scope="session")
def api_server(database: str) -> Iterator[ApiServer]:
    server = ApiServer()
    server.start()
    yield server
    server.stop()
