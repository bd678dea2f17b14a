"""Ticket API benchmark (issue 4): bulk load, create throughput, list and search latency.

Loads ``--rows`` tickets (default 1,000,000) into a scratch database with COPY, then measures:
  * create throughput through the API (in-process ASGI client, ``--concurrency`` requests at
    a time) against raw asyncpg INSERTs (counter row + ticket row per transaction);
  * list and full-text search latency (p50/p99) through the API against the same SQL run
    directly with asyncpg;
and prints the ratios. The scratch database is dropped and recreated on every run.

    .venv/bin/python bench/tickets.py [--rows 100000] [--creates 500] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

WORDS = [
    "login",
    "checkout",
    "payment",
    "upload",
    "video",
    "screenshot",
    "crash",
    "timeout",
    "slow",
    "button",
    "page",
    "error",
    "invoice",
    "export",
    "import",
    "sync",
    "mobile",
    "browser",
    "chrome",
    "firefox",
    "safari",
    "settings",
    "profile",
    "password",
    "email",
    "notification",
    "search",
    "filter",
    "report",
    "dashboard",
    "chart",
    "api",
    "webhook",
    "token",
    "session",
    "cart",
]
STATUSES = ["open", "in_progress", "waiting", "resolved", "closed"]
PRIORITIES = ["low", "normal", "high", "urgent"]
TYPES = ["bug", "question", "incident", "feature_request", "task"]
SOURCES = ["extension", "api", "email", "integration"]
COLUMNS = [
    "id",
    "organization_id",
    "number",
    "title",
    "description",
    "status",
    "priority",
    "type",
    "source",
    "reporter_id",
    "custom_fields",
    "version",
    "created_at",
    "updated_at",
]
LIST_SQL = """
SELECT * FROM ticket
WHERE organization_id = $1 AND deleted_at IS NULL AND status = 'open'
ORDER BY created_at DESC, id DESC LIMIT 26
"""
# What the API runs for a first relevance page: rank only the newest ``$3`` matches
# (tickets.search_candidates), cut the page, then load its rows.
SEARCH_SQL = """
SELECT t.*, p.rank, p.window_at, p.window_id FROM (
  SELECT * FROM (
    SELECT id, ts_rank(search_vector, websearch_to_tsquery('english', $2)) AS rank,
           first_value(created_at) OVER (ORDER BY created_at, id) AS window_at,
           first_value(id) OVER (ORDER BY created_at, id) AS window_id
    FROM (
      SELECT id, created_at, search_vector FROM ticket
      WHERE organization_id = $1 AND deleted_at IS NULL
        AND search_vector @@ websearch_to_tsquery('english', $2)
      ORDER BY created_at DESC, id DESC LIMIT $3
    ) AS candidates
  ) AS ranked
  ORDER BY rank DESC, id DESC LIMIT 26
) AS p JOIN ticket t ON t.id = p.id
ORDER BY p.rank DESC, t.id DESC
"""


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def recreate(url: str) -> None:
    base, _, name = dsn(url).rpartition("/")
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def rows(org: uuid.UUID, user: uuid.UUID, count: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(4)
    for number in range(1, count + 1):
        at = start + timedelta(seconds=number * 30)
        yield (
            uuid.uuid4(),
            org,
            number,
            sentence(rng, 6).capitalize(),
            sentence(rng, 30),
            rng.choice(STATUSES),
            rng.choice(PRIORITIES),
            rng.choice(TYPES),
            rng.choice(SOURCES),
            user,
            "{}",
            1,
            at,
            at,
        )


async def load(url: str, count: int) -> tuple[uuid.UUID, str]:
    """Organization, admin member and ``count`` tickets; returns (organization id, token)."""
    from ticketcreator.accounts.passwords import hash_password
    from ticketcreator.accounts.tokens import issue_access_token

    conn = await asyncpg.connect(dsn(url))
    try:
        org, user, login = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO organization (id, name, slug, settings)"
            " VALUES ($1, 'Bench', 'bench', '{}')",
            org,
        )
        await conn.execute(
            "INSERT INTO user_account (id, email, name, password_hash, is_active,"
            " password_changed_at) VALUES ($1, 'bench@example.com', 'Bench', $2, true, $3)",
            user,
            hash_password("bench-password-0"),
            now,
        )
        await conn.execute(
            "INSERT INTO membership (organization_id, user_id, role) VALUES ($1, $2, 'admin')",
            org,
            user,
        )
        await conn.execute(
            "INSERT INTO auth_session (id, user_id, organization_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            login,
            user,
            org,
            now,
            now + timedelta(days=1),
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "ticket", records=rows(org, user, count, now - timedelta(days=365)), columns=COLUMNS
        )
        copied = time.perf_counter() - started
        await conn.execute(
            "UPDATE ticket SET search_vector = setweight(to_tsvector('english', title), 'A')"
            " || setweight(to_tsvector('english', description), 'B')"
        )
        await conn.execute(
            "INSERT INTO ticket_counter (organization_id, last_number) VALUES ($1, $2)", org, count
        )
        await conn.execute("VACUUM ANALYZE ticket")
        total = time.perf_counter() - started
        print(
            f"loaded {count:,} tickets: COPY {copied:.1f}s ({count / copied:,.0f} rows/s), "
            f"with search vectors and indexes {total:.1f}s"
        )
    finally:
        await conn.close()
    token, _ = issue_access_token(user, org, login)
    return org, token


async def throughput(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def latencies(n: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        await one(i)
        times.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(times, n=100)
    return quantiles[49], quantiles[98]


async def run(args: argparse.Namespace) -> None:
    org, token = await load(args.database_url, args.rows)

    from ticketcreator.core.config import get_settings
    from ticketcreator.core.db import dispose_engine
    from ticketcreator.main import create_app

    app = create_app()
    candidates = get_settings().tickets.search_candidates
    headers = {"Authorization": f"Bearer {token}"}
    pool = await asyncpg.create_pool(
        dsn(args.database_url), min_size=args.concurrency, max_size=args.concurrency
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def api_create(i: int) -> None:
            response = await client.post(
                "/v1/tickets",
                json={
                    "title": f"Bench {i} {WORDS[i % len(WORDS)]}",
                    "description": "created through the API",
                },
                headers=headers,
            )
            assert response.status_code == 201, response.text

        async def raw_create(i: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                number = await conn.fetchval(
                    "UPDATE ticket_counter SET last_number = last_number + 1"
                    " WHERE organization_id = $1 RETURNING last_number",
                    org,
                )
                now = datetime.now(UTC)
                await conn.execute(
                    "INSERT INTO ticket (id, organization_id, number, title, description, status,"
                    " priority, type, source, custom_fields, version, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, 'raw', 'open', 'normal', 'bug', 'api', '{}', 1,"
                    " $5, $5)",
                    uuid.uuid4(),
                    org,
                    number,
                    f"Raw {i}",
                    now,
                )

        await api_create(-1)  # warm up
        api_rate = await throughput(args.creates, args.concurrency, api_create)
        raw_rate = await throughput(args.creates, args.concurrency, raw_create)

        rng = random.Random(7)
        terms = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(args.queries)]

        async def api_list(i: int) -> None:
            response = await client.get("/v1/tickets", params={"status": "open"}, headers=headers)
            assert response.status_code == 200

        async def raw_list(i: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetch(LIST_SQL, org)

        async def api_search(i: int) -> None:
            response = await client.get("/v1/tickets", params={"q": terms[i]}, headers=headers)
            assert response.status_code == 200

        async def raw_search(i: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetch(SEARCH_SQL, org, terms[i], candidates)

        results = {}
        for name, api, raw in (("list", api_list, raw_list), ("search", api_search, raw_search)):
            await api(0)
            await raw(0)
            results[name] = (await latencies(args.queries, api), await latencies(args.queries, raw))
    await pool.close()
    await dispose_engine()

    print(f"\ncreate throughput ({args.creates} creates, {args.concurrency} concurrent)")
    print(f"  API          {api_rate:9.1f} tickets/s")
    print(f"  raw asyncpg  {raw_rate:9.1f} tickets/s")
    print(f"  ratio raw/API {raw_rate / api_rate:6.2f}x")
    for name, ((api_p50, api_p99), (raw_p50, raw_p99)) in results.items():
        print(f"\n{name} latency over {args.rows:,} tickets ({args.queries} requests, page of 25)")
        if name == "search":
            print(f"  relevance window: the newest {candidates:,} matches")
        print(f"  API          p50 {api_p50:8.2f} ms   p99 {api_p99:8.2f} ms")
        print(f"  direct SQL   p50 {raw_p50:8.2f} ms   p99 {raw_p99:8.2f} ms")
        print(f"  ratio API/SQL p50 {api_p50 / raw_p50:6.2f}x   p99 {api_p99 / raw_p99:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets to bulk-load")
    parser.add_argument("--creates", type=int, default=500, help="creates per method")
    parser.add_argument("--queries", type=int, default=200, help="requests per latency test")
    parser.add_argument("--concurrency", type=int, default=10, help="concurrent creates")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_tickets",
        help="scratch database (dropped and recreated)",
    )
    args = parser.parse_args()
    os.environ["TC_DATABASE__URL"] = args.database_url
    os.environ.setdefault("TC_RATE_LIMITS__ENABLED", "false")
    os.environ.setdefault("TC_LOGGING__LEVEL", "WARNING")
    asyncio.run(recreate(args.database_url))
    from alembic import command

    from ticketcreator.cli import alembic_config

    command.upgrade(alembic_config(args.database_url), "head")  # type: ignore[arg-type]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
