"""Chaos run of the GitHub sync: tickets created and moved through statuses through the API
while a fake GitHub (validating every request against GitHub's OpenAPI) fails 30 % of calls
with 500 (a fifth of them after making the issue) or 429 + ``Retry-After``, and the Celery
worker is killed with SIGKILL twice. Prints issues, duplicates, tickets whose issue is
missing or in the wrong state, the injected failures and the time to converge.

Uses a private Redis, a scratch database (recreated) and a real worker.

    .venv/bin/python bench/integrations_chaos.py [--tickets 200] [--kills 2] [--failure-rate 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--failure-rate", type=float, default=0.3)
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_integrations_chaos",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support.services import RedisServer, Worker, prepare_database

    redis = RedisServer()
    redis.start()
    os.environ.update(
        {
            "TC_APP__ENVIRONMENT": "test",
            "TC_DATABASE__URL": args.database_url,
            "TC_REDIS__URL": redis.url(0),
            "TC_CELERY__BROKER_URL": redis.url(1),
            "TC_CELERY__IMPORTS": json.dumps([]),
            "TC_LOGGING__LEVEL": "WARNING",
            "TC_RATE_LIMITS__ENABLED": "false",
            "TC_INTEGRATIONS__HTTP_TIMEOUT_S": "2",
            "TC_INTEGRATIONS__HTTP_BACKOFF_S": "0.05",
            "TC_INTEGRATIONS__SYNC_LEASE_S": "5",
            "TC_INTEGRATIONS__RETRY_BACKOFF_MAX_S": "2",
            "TC_INTEGRATIONS__RECONCILE_GRACE_S": "5",
            "TC_INTEGRATIONS__MAX_ATTEMPTS": "50",
        }
    )
    worker = Worker({k: v for k, v in os.environ.items() if k.startswith("TC_")})
    try:
        prepare_database(args.database_url)
        worker.start()
        report = asyncio.run(_run(worker, args.tickets, args.kills, args.failure_rate))
        print("\n".join(report.lines()))
        print("PASS" if report.ok else "FAIL")
    finally:
        worker.stop()
        redis.stop()


async def _run(worker: object, tickets: int, kills: int, rate: float) -> object:
    import httpx
    from tests.integrations import chaos
    from tests.integrations.fake_vendor import FakeGitHub
    from tests.support.factories import create_member

    from ticketcreator.accounts.permissions import Role
    from ticketcreator.core.db import session_factory
    from ticketcreator.main import create_app

    fake = FakeGitHub()
    fake.start()
    async with session_factory()() as session:
        admin = await create_member(session, role=Role.ADMIN)
    transport = httpx.ASGITransport(app=create_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            report = await chaos.run(
                client,
                admin.headers,
                fake,
                worker,  # type: ignore[arg-type]
                tickets=tickets,
                kills=kills,
                failure_rate=rate,
                timeout=1800,
            )
        assert fake.violations == [], fake.violations[:5]
        return report
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
