"""Real-time fan-out benchmark: one event to 1,000 WebSocket clients across two API processes.

Starts a private Redis, two API processes (uvicorn) and a Celery worker (``default`` queue,
where the stream publisher runs), connects ``--clients`` WebSocket clients split evenly over
the two processes, then measures the delivery latency of each event at every client:

- **fan-out**: an event appended to Redis (as the worker does) until a client has it:
  Redis pub/sub -> both API processes -> every connection;
- **end to end**: ``PATCH /v1/tickets/{id}`` (a status change) until a client has its
  ``ticket.status_changed`` event: API commit -> outbox -> Celery -> Redis -> processes ->
  connections.

It also reports each API process's resident memory per open connection. The clients run in
this one process, so on a small machine part of the measured latency is the clients' own
turn to read; the figures are an upper bound for the server.

    .venv/bin/python bench/realtime.py --clients 1000 --events 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_realtime"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


async def prepare(url: str) -> tuple[str, uuid.UUID, uuid.UUID]:
    """A fresh, migrated database with an organization, an agent and a ticket."""
    from bench.common import fresh_database

    from ticketcreator.accounts.permissions import Role
    from ticketcreator.core.db import dispose_engine

    token, org_id = await fresh_database(url, Role.AGENT)
    async with httpx.AsyncClient(transport=_local_app(), base_url="http://bench") as http:
        created = await http.post(
            "/v1/tickets",
            headers={"Authorization": f"Bearer {token}"},
            json={"title": "Fan-out bench", "description": "status flips"},
        )
        created.raise_for_status()
        ticket_id = uuid.UUID(created.json()["id"])
    await dispose_engine()
    return token, org_id, ticket_id


def _local_app() -> httpx.ASGITransport:
    from ticketcreator.main import create_app

    return httpx.ASGITransport(app=create_app())


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API on port {port} did not start")


class Client:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.arrivals: dict[str, float] = {}  # marker -> time.time() at arrival

    async def run(self) -> None:
        async for text in self.connection:
            now = time.time()
            event = json.loads(text)
            data = event.get("data") or {}
            marker = data.get("marker") or (
                f"status:{data['new']}:{event['id']}"
                if event.get("type") == "ticket.status_changed"
                else None
            )
            if marker:
                self.arrivals[marker] = now


async def connect_all(ports: list[int], token: str, count: int) -> list[Client]:
    protocols = [Subprotocol("ticketcreator"), Subprotocol(f"ticketcreator.bearer.{token}")]
    clients: list[Client] = []
    for i in range(count):
        url = f"ws://127.0.0.1:{ports[i % len(ports)]}/v1/stream"
        connection = await connect(url, subprotocols=protocols, compression=None)
        ready = json.loads(await connection.recv())
        assert ready["type"] == "stream.ready", ready
        clients.append(Client(connection))
    return clients


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace, ports: list[int], pids: list[int], token: str,
                  org_id: uuid.UUID, ticket_id: uuid.UUID) -> None:  # fmt: skip
    from ticketcreator.accounts.permissions import Permission
    from ticketcreator.realtime import bus
    from ticketcreator.realtime.events import Access

    before = [rss(pid) for pid in pids]
    clients = await connect_all(ports, token, args.clients)
    await asyncio.sleep(2.0)
    after = [rss(pid) for pid in pids]
    readers = [asyncio.create_task(c.run()) for c in clients]
    per_process = args.clients / len(pids)

    access = Access(organization_id=org_id, permission=Permission.TICKETS_READ)
    fanout: list[float] = []
    for n in range(args.events):
        marker = f"direct:{n}"
        sent = time.time()
        event = json.dumps({
            "type": "bench.ping", "organization_id": str(org_id), "ticket_id": None,
            "occurred_at": "", "data": {"marker": marker},
        })  # fmt: skip
        await bus.publish(access, event)
        await _wait_all(clients, marker)
        fanout += [c.arrivals[marker] - sent for c in clients]
        await asyncio.sleep(0.2)

    end_to_end: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as http:
        for n in range(args.events):
            status = "in_progress" if n % 2 == 0 else "open"
            sent = time.time()
            changed = await http.patch(f"/v1/tickets/{ticket_id}", headers=headers,
                                       json={"status": status})  # fmt: skip
            changed.raise_for_status()
            marker = await _wait_status(clients, status, sent)
            end_to_end += [c.arrivals[marker] - sent for c in clients]
            await asyncio.sleep(0.2)

    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(c.connection.close() for c in clients), return_exceptions=True)

    def line(name: str, values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (f"{name:24s} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms"
                f"   max {max(ms):7.1f} ms   mean {statistics.fmean(ms):7.1f} ms")  # fmt: skip

    print(f"clients                  {args.clients} WebSockets over {len(pids)} API processes")
    print(f"events                   {args.events} per kind, {len(fanout)} deliveries each")
    print(line("fan-out (Redis->client)", fanout))
    print(line("end to end (PATCH->client)", end_to_end))
    for i, _pid in enumerate(pids):
        growth = after[i] - before[i]
        print(f"API process {i + 1} RSS         {before[i] / 2**20:7.1f} MiB idle, "
              f"{after[i] / 2**20:7.1f} MiB with {per_process:.0f} clients: "
              f"{growth / per_process / 1024:6.1f} KiB per connection")  # fmt: skip
    print(f"machine                  {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (clients, servers, worker and Redis share them)")  # fmt: skip


async def _wait_all(clients: list[Client], marker: str) -> None:
    deadline = time.monotonic() + 30
    while not all(marker in c.arrivals for c in clients):
        if time.monotonic() > deadline:
            missing = sum(marker not in c.arrivals for c in clients)
            raise SystemExit(f"{missing} clients did not get {marker}")
        await asyncio.sleep(0.005)


async def _wait_status(clients: list[Client], status: str, sent: float) -> str:
    deadline = time.monotonic() + 30
    while True:
        markers = [m for m in clients[0].arrivals if m.startswith(f"status:{status}:")
                   and clients[0].arrivals[m] >= sent]  # fmt: skip
        if markers:
            await _wait_all(clients, markers[-1])
            return markers[-1]
        if time.monotonic() > deadline:
            raise SystemExit("the status change did not arrive")
        await asyncio.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument(
        "--database-url", default=os.environ.get("TC_BENCH_DATABASE_URL", DEFAULT_DB)
    )
    args = parser.parse_args()

    from tests.support.services import RedisServer, free_port

    work = Path(tempfile.mkdtemp(prefix="tc-bench-realtime-"))
    redis = RedisServer()
    redis.start()
    os.environ.update({
        "TC_DATABASE__URL": args.database_url,
        "TC_REDIS__URL": redis.url(0),
        "TC_CELERY__BROKER_URL": redis.url(1),
        "TC_RATE_LIMITS__ENABLED": "false",
        "TC_LOGGING__LEVEL": "WARNING",
    })  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        token, org_id, ticket_id = asyncio.run(prepare(args.database_url))
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            processes.append(start(
                [sys.executable, "-m", "uvicorn", "ticketcreator.main:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                 "--log-level", "warning"],
                env, work / f"api{i}.log",
            ))  # fmt: skip
        processes.append(start(
            [sys.executable, "-m", "celery", "-A", "ticketcreator.worker:celery_app", "worker",
             "--queues", "default", "--concurrency", "2", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle"],
            env, work / "worker.log",
        ))  # fmt: skip
        for port in ports:
            wait_healthy(port)
        pids = [p.pid for p in processes[:2]]
        asyncio.run(measure(args, ports, pids, token, org_id, ticket_id))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
