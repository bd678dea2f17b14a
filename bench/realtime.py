"""Real-time fan-out benchmark: one event to 1,000 WebSocket clients across two API processes.

Starts a private Redis, two API processes (``ticketcreator serve``, as in production: uvloop,
httptools) and a Celery worker (``default`` queue, where the stream publisher runs), opens
``--clients`` stream WebSockets, each as a member of its own, split evenly over the two
processes from ``--receivers`` processes of their own (``bench/realtime_clients.py``), then
measures when each event reaches every client:

- **fan-out**: an event appended to Redis (as the worker does) until a client has it:
  Redis pub/sub -> both API processes -> every connection;
- **status change**: ``PATCH /v1/tickets/{id}`` until a client has its ``ticket.updated``
  event (the one event a change is streamed as), from the commit (the response; the API
  commits just before it) in two stages: *commit -> publish* (outbox -> Celery -> the worker
  appends it to Redis, read from the milliseconds of its stream id) and *publish -> client*.

Receipt times are taken in ``data_received``, before parsing, with ``time.time()``, the clock
every process on this machine shares. The clients offer permessage-deflate, as browsers do
(``--no-deflate`` to offer nothing). It also reports each API process's resident memory per
open connection and the API processes' CPU time per fanned-out event (a figure the machine's
other load changes less than latency). Receivers, servers, worker and Redis share the
machine's cores: on a small, loaded machine the latencies are an upper bound for the server.

    .venv/bin/python bench/realtime.py --clients 1000 --events 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.process
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench import realtime_clients  # noqa: E402

DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_realtime"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


async def prepare(url: str, clients: int) -> tuple[str, list[str], uuid.UUID, uuid.UUID]:
    """A fresh, migrated database with an organization, an agent and a ticket, and a member
    (an agent too) with a session of their own for each client."""
    from bench.common import fresh_database

    from ticketcreator.accounts.models import AuthSession, Membership, User
    from ticketcreator.accounts.permissions import Role
    from ticketcreator.accounts.tokens import issue_access_token
    from ticketcreator.core.db import dispose_engine, session_factory, utcnow

    token, org_id = await fresh_database(url, Role.AGENT)
    async with session_factory()() as session:
        users = [
            User(email=f"reader{i}@example.com", name=f"Reader {i}", password_hash="-",
                 is_active=True)
            for i in range(clients)
        ]  # fmt: skip
        session.add_all(users)
        await session.flush()
        until = utcnow() + timedelta(days=1)
        logins = [AuthSession(user_id=u.id, organization_id=org_id, expires_at=until)
                  for u in users]  # fmt: skip
        session.add_all(logins)
        session.add_all(Membership(organization_id=org_id, user_id=u.id, role=Role.AGENT)
                        for u in users)  # fmt: skip
        await session.flush()
        tokens = [issue_access_token(login.user_id, org_id, login.id)[0] for login in logins]
        await session.commit()
    async with httpx.AsyncClient(transport=_local_app(), base_url="http://bench") as http:
        created = await http.post(
            "/v1/tickets",
            headers={"Authorization": f"Bearer {token}"},
            json={"title": "Fan-out bench", "description": "status flips"},
        )
        created.raise_for_status()
        ticket_id = uuid.UUID(created.json()["id"])
    await dispose_engine()
    return token, tokens, org_id, ticket_id


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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def published_at(stream_id: str) -> float:
    """When Redis appended the event (the milliseconds of its stream id), in seconds."""
    return int(stream_id.split("-")[0]) / 1000


class Receivers:
    """The receiver processes (``bench/realtime_clients.py``) and their pipes."""

    def __init__(self, count: int, ports: list[int], tokens: list[str], deflate: bool):
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for i in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=realtime_clients.receive, args=(ports, tokens[i::count], deflate, theirs)
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    async def next(self, kind: str, match: Any = None, wait_s: float = 60) -> list[Any]:
        """From every receiver, its next message of ``kind`` (matching ``match`` when given)."""
        found = []
        deadline = time.monotonic() + wait_s
        for pipe in self.pipes:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not await asyncio.to_thread(pipe.poll, left):
                    raise SystemExit(f"a receiver sent no {kind!r} in time")
                message = pipe.recv()
                if message[0] == kind and (match is None or match(message)):
                    found.append(message)
                    break
        return found

    async def complete(self, event_id: str | None = None, event_type: str | None = None) -> str:
        """Wait until every client has the event ``event_id`` (or the next of ``event_type``)."""
        done = await self.next(
            "all", lambda m: m[1] == event_id if event_id else m[2] == event_type
        )
        ids = {m[1] for m in done}
        if len(ids) != 1:
            raise SystemExit(f"the receivers disagree on the event: {ids}")
        return ids.pop()

    async def stop(self) -> tuple[dict[str, list[float]], dict[str, str]]:
        for pipe in self.pipes:
            pipe.send("stop")
        arrivals: dict[str, list[float]] = {}
        types: dict[str, str] = {}
        for _, got, kinds in await self.next("arrivals"):
            for event_id, times in got.items():
                arrivals.setdefault(event_id, []).extend(times)
            types.update(kinds)
        for process in self.processes:
            process.join(30)
        return arrivals, types


async def measure(args: argparse.Namespace, ports: list[int], pids: list[int], token: str,
                  tokens: list[str], org_id: uuid.UUID, ticket_id: uuid.UUID) -> None:  # fmt: skip
    from ticketcreator.accounts.permissions import Permission
    from ticketcreator.realtime import bus
    from ticketcreator.realtime.events import Access

    before = [rss(pid) for pid in pids]
    receivers = Receivers(args.receivers, ports, tokens, args.deflate)
    deflated = sum(m[1] for m in await receivers.next("connected", wait_s=300))
    await asyncio.sleep(2.0)
    after = [rss(pid) for pid in pids]
    per_process = args.clients / len(pids)

    access = Access(organization_id=org_id, permission=Permission.TICKETS_READ)
    sent_at: dict[str, float] = {}
    cpu = sum(cpu_seconds(pid) for pid in pids)
    for n in range(args.events):
        event = json.dumps({
            "type": "bench.ping", "organization_id": str(org_id), "ticket_id": None,
            "occurred_at": "", "data": {"n": n, "filler": "x" * args.size},
        })  # fmt: skip
        sent = time.time()
        stream_id = await bus.publish(access, event)
        sent_at[stream_id] = sent
        await receivers.complete(stream_id)
        await asyncio.sleep(0.2)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu

    committed_at: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as http:
        for n in range(args.events):
            status = "in_progress" if n % 2 == 0 else "open"
            changed = await http.patch(f"/v1/tickets/{ticket_id}", headers=headers,
                                       json={"status": status})  # fmt: skip
            committed = time.time()  # the change was committed just before the response
            changed.raise_for_status()
            stream_id = await receivers.complete(event_type="ticket.updated")
            committed_at[stream_id] = committed
            await asyncio.sleep(0.2)
    arrivals, _ = await receivers.stop()

    fanout = [t - sent_at[i] for i in sent_at for t in arrivals[i]]
    to_publish = [published_at(i) - committed_at[i] for i in committed_at]
    from_publish = [t - published_at(i) for i in committed_at for t in arrivals[i]]
    end_to_end = [t - committed_at[i] for i in committed_at for t in arrivals[i]]

    def line(name: str, values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (f"{name:28s} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms"
                f"   max {max(ms):7.1f} ms")  # fmt: skip

    print(
        f"clients                      {args.clients} WebSockets over {len(pids)} API processes, "
        f"read by {args.receivers} receiver processes; {deflated} negotiated permessage-deflate"
    )
    print(
        f"events                       {args.events} per kind ({args.size} B of data), "
        f"{len(fanout)} and {len(end_to_end)} deliveries"
    )
    print(line("fan-out (publish->client)", fanout))
    print(
        f"API CPU per fanned-out event {cpu / args.events * 1000:7.1f} ms "
        f"(both processes, {args.clients} clients)"
    )
    print(line("status change: commit->publish", to_publish))
    print(line("status change: publish->client", from_publish))
    print(line("status change: commit->client", end_to_end))
    for i, _pid in enumerate(pids):
        growth = after[i] - before[i]
        print(f"API process {i + 1} RSS             {before[i] / 2**20:7.1f} MiB idle, "
              f"{after[i] / 2**20:7.1f} MiB with {per_process:.0f} clients: "
              f"{growth / per_process / 1024:6.1f} KiB per connection")  # fmt: skip
    print(
        f"machine                      {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} (receivers, servers, worker, Redis and other work share them)"
    )
    print(f"credential checks            every {args.reauth_s:g} s on each connection")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--receivers", type=int, default=2, help="client processes")
    parser.add_argument("--size", type=int, default=200, help="bytes of data per event")
    parser.add_argument("--deflate", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--reauth-s", type=float, default=10.0,
        help="how often each stream checks its credential again (production: 60 s); short, so "
        "that every connection does it (one database query each) while events are measured",
    )  # fmt: skip
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
        "TC_REALTIME__REAUTH_INTERVAL_S": str(args.reauth_s),
        "TC_LOGGING__LEVEL": "WARNING",
    })  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        token, tokens, org_id, ticket_id = asyncio.run(prepare(args.database_url, args.clients))
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            processes.append(start(
                [str(Path(sys.executable).parent / "ticketcreator"), "serve",
                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
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
        asyncio.run(measure(args, ports, pids, token, tokens, org_id, ticket_id))
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
    main()
