"""Outbox fault benchmark (issue 21, item 3): are tickets triaged when the broker loses its data
and a worker is killed?

Files ``--tickets`` tickets through the API (in-process ASGI client) at ``--rate`` per second.
Meanwhile the Redis broker (a private ``redis-server`` without persistence, as
``scripts/ensure-services.sh`` starts it) is stopped ``--redis-down-at`` seconds after the first
ticket and started again, empty, ``--redis-down-for`` seconds later; the Celery worker (with
its pool) is killed with SIGKILL ``--kill-at`` seconds after the first ticket and started
again. Celery beat runs the outbox relay as in production (default settings). Then it counts,
each ``--poll`` seconds for ``--window`` seconds after the last ticket, how many tickets were
triaged (at least one triage run), and at the end how many were triaged more than once
(duplicates) and how many deliveries are still pending or dead.

A scratch database is dropped and recreated on every run.

    python bench/outbox_faults.py [--tickets 300] [--rate 8] [--redis-down-for 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.services import RedisServer, Worker, prepare_database  # noqa: E402

BASE_URL = os.environ.get(
    "TC_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/ticketcreator_test"
)
DATABASE_URL = BASE_URL.rsplit("/", 1)[0] + "/tc_bench_outbox_faults"
TRIAGE = "ticketcreator.ai.triage.tasks.triage_new_ticket"


def _configure(redis: RedisServer) -> dict[str, str]:
    env = {
        "TC_APP__ENVIRONMENT": "test",
        "TC_DATABASE__URL": DATABASE_URL,
        "TC_REDIS__URL": redis.url(0),
        "TC_CELERY__BROKER_URL": redis.url(1),
        "TC_LOGGING__LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def _start_beat(env: dict[str, str], scratch: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ticketcreator.worker:celery_app",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(scratch / "beat-schedule"),
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        stdout=(scratch / "beat.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _counts() -> dict[str, int]:
    from sqlalchemy import text

    from ticketcreator.core.db import session_factory

    async with session_factory()() as db:
        runs = (
            await db.execute(
                text(
                    "SELECT count(DISTINCT ticket_id) AS triaged, count(*) FILTER "
                    "(WHERE n > 1) AS duplicated FROM (SELECT ticket_id, count(DISTINCT run_id)"
                    " AS n FROM ai_decision GROUP BY ticket_id) AS per_ticket"
                )
            )
        ).one()
        deliveries: dict[str, int] = dict(
            (
                await db.execute(text("SELECT state, count(*) FROM processed_event GROUP BY state"))
            ).all()
        )
        tickets = await db.scalar(text("SELECT count(*) FROM ticket"))
    return {
        "tickets": int(tickets or 0),
        "triaged": int(runs.triaged),
        "duplicated": int(runs.duplicated),
        "pending": int(deliveries.get("pending", 0)),
        "dead": int(deliveries.get("dead", 0)),
    }


async def _run(args: argparse.Namespace, redis: RedisServer, worker: Worker) -> dict[str, Any]:
    import httpx
    from tests.support.factories import create_member

    from ticketcreator.accounts.permissions import Role
    from ticketcreator.core.db import session_factory
    from ticketcreator.main import create_app

    async with session_factory()() as db:
        member = await create_member(db, role=Role.AGENT)
    app = create_app()
    statuses: list[int] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def file(number: int) -> None:
            try:
                response = await client.post(
                    "/v1/tickets",
                    headers=member.headers,
                    json={"title": f"Checkout page crashes after payment #{number}"},
                )
                statuses.append(response.status_code)
            except Exception:  # a request that fails outright counts as not accepted
                statuses.append(0)

        async def faults(started: float) -> None:
            plan = sorted(
                [
                    (args.redis_down_at, "redis-stop"),
                    (args.redis_down_at + args.redis_down_for, "redis-start"),
                    (args.kill_at, "kill-worker"),
                ]
            )
            for at, action in plan:
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                print(f"+{time.monotonic() - started:5.1f}s {action}", flush=True)
                if action == "redis-stop":
                    await asyncio.to_thread(redis.stop)
                elif action == "redis-start":
                    await asyncio.to_thread(redis.start)  # empty: no persistence
                else:
                    await asyncio.to_thread(worker.kill)
                    restarts.append(asyncio.create_task(restart(started)))
            await asyncio.gather(*restarts)

        restarts: list[asyncio.Task[None]] = []

        async def restart(started: float) -> None:
            await asyncio.to_thread(worker.start, 300.0)  # ready once the broker is back
            print(f"+{time.monotonic() - started:5.1f}s worker ready", flush=True)

        started = time.monotonic()
        fault_task = asyncio.create_task(faults(started))
        filing = []
        for number in range(args.tickets):
            await asyncio.sleep(max(0.0, started + number / args.rate - time.monotonic()))
            filing.append(asyncio.create_task(file(number)))
        await asyncio.gather(*filing)
        filed_at = time.monotonic()
        print(f"+{filed_at - started:5.1f}s all {args.tickets} filed", flush=True)
        await fault_task

    accepted = sum(1 for status in statuses if status == 201)
    all_triaged_after: float | None = None
    counts = await _counts()
    while time.monotonic() - filed_at < args.window:
        counts = await _counts()
        if counts["triaged"] >= counts["tickets"]:
            all_triaged_after = time.monotonic() - filed_at
            break
        await asyncio.sleep(args.poll)
    print(f"+{time.monotonic() - started:5.1f}s triaged {counts['triaged']}/{accepted}", flush=True)
    await asyncio.sleep(args.settle)  # late duplicates would show up here
    final = await _counts()
    return {
        "filed": args.tickets,
        "accepted": accepted,
        "created": final["tickets"],
        "answers": dict(sorted(Counter(statuses).items())),
        "triaged_within_window": counts["triaged"],
        "window_s": args.window,
        "all_triaged_after_s": round(all_triaged_after, 1) if all_triaged_after else None,
        "duplicated": final["duplicated"],
        "deliveries_pending": final["pending"],
        "deliveries_dead": final["dead"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=8.0, help="tickets per second")
    parser.add_argument("--redis-down-at", type=float, default=5.0)
    parser.add_argument("--redis-down-for", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=120.0, help="seconds after the last")
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()

    redis = RedisServer()
    redis.start()
    env = _configure(redis)
    prepare_database(DATABASE_URL)
    scratch = Path(tempfile.mkdtemp(prefix="tc-bench-outbox-"))
    worker = Worker(env, label="bench")
    worker.start()
    beat = _start_beat(env, scratch)
    try:
        result = asyncio.run(_run(args, redis, worker))
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        worker.stop()
        redis.stop()
    print(f"worker log: {worker.log}; beat log: {scratch / 'beat.log'}")
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
