"""Real services for the test session: a private Redis server, the test database, a worker.

The session runs its own ``redis-server`` on a free port (so tests may stop and restart it
without touching anything else on the machine), a dedicated PostgreSQL database migrated
once, and, when a test asks for it, a real Celery worker process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """A throw-away redis-server that tests can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tc-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _recreate_database(url: str) -> None:
    dsn = asyncpg_dsn(url)
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def prepare_database(url: str) -> None:
    """Recreate the test database from nothing and run every migration."""
    asyncio.run(_recreate_database(url))
    from alembic import command

    from ticketcreator.cli import alembic_config

    command.upgrade(alembic_config(url), "head")  # type: ignore[arg-type]


QUEUES = ("default", "ai", "media", "integrations")


class Worker:
    """A real ``celery worker`` process; it consumes only while a test asks for it.

    Started once per session, it is told to stop consuming between the tests that use it,
    so the work that other tests' events would queue (triage, media processing) never runs
    behind their backs and changes what they check.
    """

    def __init__(self, env: dict[str, str], label: str = "test") -> None:
        self.env = env
        self.label = label
        self.name = f"{label}-{os.getpid()}@{socket.gethostname()}"
        self.log = Path(tempfile.mkstemp(prefix="tc-worker-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        # The checkout's own sources come first, whichever checkout the virtualenv was made in.
        path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env = {**os.environ, **self.env, "PYTHONPATH": path}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ticketcreator.worker:celery_app",
                "worker",
                "--queues",
                "default,ai,media,integrations",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{self.label}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("celery worker exited:\n" + self.log.read_text()[-4000:])
            if "ready." in self.log.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError("celery worker not ready:\n" + self.log.read_text()[-4000:])

    def consume(self, on: bool, timeout: float = 60.0) -> None:
        """Start or stop consuming every queue (Celery remote control, acknowledged). A worker
        busy starting its pool or finishing work may miss a request: it is asked again."""
        from ticketcreator.core.tasks import celery_app

        control = celery_app.control.add_consumer if on else celery_app.control.cancel_consumer
        deadline = time.monotonic() + timeout
        for queue in QUEUES:
            while True:
                # A fresh connection: a pooled one may predate a restart of the test Redis.
                with celery_app.connection() as connection:
                    replies = control(
                        queue, destination=[self.name], reply=True, timeout=5, connection=connection
                    )
                if replies:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not answer about queue {queue}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (no shutdown, no acks)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


class ApiServer:
    """The API in a real ``uvicorn`` process, for clients that speak HTTP over sockets.

    ``stop`` and ``start`` again serve on the same port (an outage the clients must survive).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.log = Path(f"/tmp/tc-api-{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "ticketcreator.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # a busy machine imports slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("API did not start:\n" + self.log.read_text()[-3000:])

    def stop(self, *, crash: bool = False) -> None:
        """Shut down gracefully, or with ``crash`` kill at once (requests in flight break)."""
        if self.process is not None:
            if crash:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None
