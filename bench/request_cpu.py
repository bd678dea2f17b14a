"""CPU per request of the API, in process: where bench/api.py's throughput goes.

The app (``create_served_app``, as ``ticketcreator serve`` runs it: on uvloop, rate limits
on with a budget the run cannot reach, JSON logs at INFO to a file) is called straight
through ASGI against a scratch database of ``--rows`` tickets, ``--concurrency`` requests at
a time (one by default; with ten, waits on PostgreSQL overlap as they do under load, and
each request costs a quarter less). It prints the process's CPU time per request for each
call, so that a change to the request path is measured on its own, without an HTTP server,
a load generator or PostgreSQL sharing the cores. Each call runs in ``--rounds`` rounds of
``--requests``: on a shared machine other work only ever adds to a round's time, so the
fastest round is the steadiest figure, and the median shows how far the others strayed.
``--profile CALL`` prints the functions that call spends the most in (cProfile; sorted by
``SORT``, ``cumulative`` unless set, the first ``TOP`` of them, 40 unless set).

    .venv/bin/python bench/request_cpu.py [--requests 500] [--rounds 6] [--concurrency 10]
        [--profile get]

Hand-overs to the broker are switched off: a request's events are left to the relay, so
create and PATCH are measured without the Celery message, whose cost depends on how many
requests share it under load (bench/api.py measures it). Redis databases 5 and 6 of
127.0.0.1:6379 are used.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from common import production_settings  # bench/common.py
from tickets import load, recreate  # bench/tickets.py

CALLS: dict[str, tuple[str, Callable[[int], str], Callable[[int], bytes]]] = {
    "get": ("GET", lambda n: f"/v1/tickets/T-{n % 1000 + 1}", lambda n: b""),
    "list": ("GET", lambda n: "/v1/tickets?status=open", lambda n: b""),
    "create": (
        "POST",
        lambda n: "/v1/tickets",
        lambda n: b'{"title": "Bench ticket", "description": "created in process"}',
    ),
    "patch": (
        "PATCH",
        lambda n: f"/v1/tickets/T-{n % 1000 + 1}",
        # Each request changes the ticket: the 1,000 tickets go low, then high, then low...
        lambda n: b'{"priority": "%s"}' % (b"high" if n // 1000 % 2 else b"low"),
    ),
}


class Client:
    """Calls an ASGI app directly, as one authenticated caller."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token, self.sent = app, token, 0
        self.state: dict[str, Any] = {}

    async def call(self, name: str, n: int) -> None:
        method, path, body = CALLS[name]
        target, _, query = path(n).partition("?")
        self.sent += 1
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {self.token}".encode())]
        if method != "GET":
            headers += [(b"content-type", b"application/json")]
            headers += [(b"idempotency-key", f"cpu-{os.getpid()}-{self.sent}".encode())]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": target, "raw_path": target.encode(),
            "query_string": query.encode(), "headers": headers, "root_path": "",
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": self.state.copy(),
        }  # fmt: skip
        content = body(n)
        answers: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": content, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            answers.append(message)

        await self.app(scope, receive, send)
        status = answers[0]["status"]
        if status >= 300:
            raise RuntimeError(f"{method} {path(n)} answered {status}: {answers[-1]}")

    async def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """Run the app's lifespan: started when this returns, shut down once ``stop`` is set."""
        messages = iter(({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}))
        started = asyncio.Event()

        async def receive() -> dict[str, str]:
            message = next(messages)
            if message["type"] == "lifespan.shutdown":
                await stop.wait()
            return message

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        task = asyncio.create_task(self.app(scope, receive, send))
        await started.wait()
        return task


async def _run(client: Client, name: str, numbers: range, concurrency: int) -> None:
    """Call ``name`` for each of ``numbers``, ``concurrency`` requests at a time."""
    if concurrency == 1:
        for n in numbers:
            await client.call(name, n)
        return
    await asyncio.gather(
        *(_run(client, name, numbers[i::concurrency], 1) for i in range(concurrency))
    )


async def measure(args: argparse.Namespace, token: str) -> None:
    from ticketcreator.core import outbox
    from ticketcreator.main import create_served_app

    app = create_served_app()
    logs = Path(tempfile.mkdtemp(prefix="tc-request-cpu-")) / "api.log"
    with logs.open("w") as log:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log)
        outbox.broker_failed()  # hand-overs left to the relay for a day: the whole run
        client, stop = Client(app, token), asyncio.Event()
        lifespan = await client.start(stop)
        print(f"{'call':<8}{'us CPU per request: fastest round':>36}{'median round':>14}")
        for name in args.calls.split(","):
            await _run(client, name, range(args.warmup), args.concurrency)
            rounds = []
            for round_ in range(args.rounds):  # n goes on from the warmup's, round after round
                first = args.warmup + round_ * args.requests
                started = time.process_time()
                await _run(client, name, range(first, first + args.requests), args.concurrency)
                rounds.append((time.process_time() - started) / args.requests * 1e6)
            fastest, median = min(rounds), statistics.median(rounds)
            print(f"{name:<8}{fastest:>36,.0f}{median:>14,.0f}", flush=True)
            if name == args.profile:
                profile = cProfile.Profile()
                profile.enable()
                first = args.warmup + args.rounds * args.requests
                await _run(client, name, range(first, first + args.requests), args.concurrency)
                profile.disable()
                order, top = os.environ.get("SORT", "cumulative"), int(os.environ.get("TOP", "40"))
                pstats.Stats(profile).sort_stats(order).print_stats(top)
        stop.set()
        await lifespan
    print(f"log of the run: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per call")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (under load, their waits on PostgreSQL overlap)",
    )
    parser.add_argument("--rows", type=int, default=20_000, help="tickets loaded before the run")
    parser.add_argument("--calls", default=",".join(CALLS), help="comma-separated subset")
    parser.add_argument("--profile", choices=list(CALLS), help="cProfile this call afterwards")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_request_cpu",
        help="scratch database (dropped and recreated)",
    )
    args = parser.parse_args()
    os.environ.update(production_settings(args.database_url))
    os.environ["TC_OUTBOX__RELAY_INTERVAL_S"] = "86400"  # hand-overs off for the run (measure)
    asyncio.run(recreate(args.database_url))
    from alembic import command

    from ticketcreator.cli import alembic_config

    command.upgrade(alembic_config(args.database_url), "head")  # type: ignore[arg-type]
    _, token = asyncio.run(load(args.database_url, args.rows))
    asyncio.run(measure(args, token), loop_factory=uvloop.new_event_loop)  # as served


if __name__ == "__main__":
    main()
