"""The API served by a real uvicorn on a free port, for tests that need real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tests.support.services import ROOT, free_port, wait_for_port


@contextmanager
def serve_api(
    *, log_level: str = "warning", env: dict[str, str] | None = None, log: IO[str] | None = None
) -> Iterator[str]:
    """Start ``uvicorn ticketcreator.main:create_app`` (test database and Redis, from the
    ``TC_*`` environment) and yield its base URL; stopped with SIGTERM on exit."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "ticketcreator.main:create_app", "--factory"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", **(env or {})},
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=120)  # start-up is slow on a busy machine
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
