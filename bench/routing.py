"""Routing benchmark (issue 17): routing decision time per ticket, and the SLA checker.

Loads into a scratch database (dropped and recreated): one organization with ``--agents``
agents in teams of 50 (profiles, skills), ``--rules`` routing rules created through the
service (validated as the API does), and ``--tickets`` open tickets (default 1,000,000), each
with an SLA clock whose next check is spread evenly over the next 30 days (so about one
minute's worth is due, as for a checker that runs every minute); ``--assigned`` of the open
tickets are held by the agents (capacity-bound agents hold tens, not thousands).

Then measures:
  * decision time per ticket: the ticket's facts, every rule evaluated, the assignee chosen
    (team lock, candidate query, agent lock and recount), on the ticket row the triggering
    change (the triage's run, a person's PATCH) already locked in the transaction, as the
    rules find it when they react; rolled back so every sample sees the same state. p50/p99
    over ``--decisions`` tickets. The full routing run (loading and locking the ticket itself,
    plus writing the changes and timeline) is reported alongside;
  * one SLA checker run over the clocks that are due, with the plan of its query (EXPLAIN
    ANALYZE) showing the partial index on ``next_check_at`` rather than a scan.

    .venv/bin/python bench/routing.py [--tickets 1000000] [--rules 200] [--agents 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tickets import dsn, recreate  # bench/tickets.py: the scratch database helpers

WORDS = ["checkout", "login", "invoice", "refund", "upload", "export", "crash", "slow"]
LANGUAGES = ["en", "de", "fr", "es"]
PRIORITIES = ["low", "normal", "high", "urgent"]
OPEN = ["open", "in_progress", "waiting"]
TEAM_SIZE = 50


def ticket_rows(
    org: uuid.UUID,
    reporter: uuid.UUID,
    categories: list[uuid.UUID],
    agents: list[uuid.UUID],
    count: int,
    assigned: int,
    now: datetime,
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(17)
    for number in range(1, count + 1):
        at = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        yield (
            uuid.uuid4(),
            org,
            number,
            f"{words[:60]}",
            words,
            rng.choice(OPEN),
            rng.choice(PRIORITIES),
            "bug",
            "extension",
            rng.choice(categories),
            agents[number % len(agents)] if number <= assigned else None,
            reporter,
            f'{{"plan": "{rng.choice(["free", "pro", "enterprise"])}"}}',
            1,
            at,
            at,
        )


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn(url))
    rng = random.Random(5)
    now = datetime.now(UTC)
    try:
        org, reporter = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO organization (id, name, slug, settings)"
            " VALUES ($1, 'Bench', 'bench', '{}')",
            org,
        )
        agents = [uuid.uuid4() for _ in range(args.agents)]
        users = [(reporter, "reporter@customer.example")] + [
            (a, f"agent{i}@bench.example") for i, a in enumerate(agents)
        ]
        await conn.copy_records_to_table(
            "user_account",
            records=[(u, e, e, "x", True, now, now, now) for u, e in users],
            columns=["id", "email", "name", "password_hash", "is_active",
                     "password_changed_at", "created_at", "updated_at"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "membership",
            records=[(org, reporter, "reporter", now, now)]
            + [(org, a, "agent", now, now) for a in agents],
            columns=["organization_id", "user_id", "role", "created_at", "updated_at"],
        )
        categories = [uuid.uuid4() for _ in range(10)]
        await conn.copy_records_to_table(
            "category",
            records=[(c, org, f"Category {i}", "", now, now) for i, c in enumerate(categories)],
            columns=["id", "organization_id", "name", "description", "created_at", "updated_at"],
        )
        teams = [uuid.uuid4() for _ in range(max(1, args.agents // TEAM_SIZE))]
        await conn.copy_records_to_table(
            "team",
            records=[(t, org, f"Team {i}", "", now, now) for i, t in enumerate(teams)],
            columns=["id", "organization_id", "name", "description", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "team_member",
            records=[(teams[i % len(teams)], a, now) for i, a in enumerate(agents)],
            columns=["team_id", "user_id", "added_at"],
        )
        strategies = ["round_robin", "least_open", "skills"]
        await conn.copy_records_to_table(
            "team_routing",
            records=[(t, org, strategies[i % 3], now) for i, t in enumerate(teams)],
            columns=["team_id", "organization_id", "strategy", "updated_at"],
        )
        await conn.copy_records_to_table(
            "agent_profile",
            records=[(org, a, 100, "online" if i % 10 else "away", None, now)
                     for i, a in enumerate(agents)],
            columns=["organization_id", "user_id", "capacity", "availability", "away_until",
                     "updated_at"],
        )  # fmt: skip
        skills = {
            (a, kind, value): rng.randint(1, 5)
            for a in agents
            for kind, value in (
                ("category", str(rng.choice(categories))),
                ("language", rng.choice(LANGUAGES)),
            )
        }
        await conn.copy_records_to_table(
            "agent_skill",
            records=[(org, a, k, v, lv) for (a, k, v), lv in skills.items()],
            columns=["organization_id", "user_id", "kind", "value", "level"],
        )
        await conn.execute(
            "INSERT INTO custom_field (id, organization_id, key, label, description, type,"
            " options, required, created_at, updated_at)"
            " VALUES ($1, $2, 'plan', 'Plan', '', 'text', '{}', false, $3, $3)",
            uuid.uuid4(),
            org,
            now,
        )
        policy = uuid.uuid4()
        await conn.execute(
            "INSERT INTO sla_policy (id, organization_id, name, is_default, warn_share, targets,"
            " escalation, created_at, updated_at) VALUES ($1, $2, 'Standard', true, 0.8,"
            ' \'[{"priority": "normal", "resolution_minutes": 43200}]\', \'{}\', $3, $3)',
            policy,
            org,
            now,
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "ticket",
            records=ticket_rows(
                org, reporter, categories, agents, args.tickets, args.assigned, now
            ),
            columns=["id", "organization_id", "number", "title", "description", "status",
                     "priority", "type", "source", "category_id", "assignee_id", "reporter_id",
                     "custom_fields", "version", "created_at", "updated_at"],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO ticket_counter (organization_id, last_number) VALUES ($1, $2)",
            org,
            args.tickets,
        )
        # One clock per ticket; next checks spread over 30 days, the first minute's are due.
        window = 30 * 86400
        await conn.execute(
            """
            INSERT INTO ticket_sla (ticket_id, organization_id, policy_id)
            SELECT id, organization_id, $1 FROM ticket
            """,
            policy,
        )
        await conn.execute(
            """
            INSERT INTO ticket_sla_metric (ticket_id, metric, organization_id, target_s,
                started_at, paused_s, due_at, warn_at, state, next_check_at)
            SELECT id, 'resolution', organization_id, 2592000, created_at, 0,
                   $1::timestamptz + (random() * $2::float8 - 60) * interval '1 second'
                       + interval '1 hour',
                   $1::timestamptz + (random() * $2::float8 - 60) * interval '1 second',
                   'running', NULL
            FROM ticket
            """,
            now,
            window,
        )
        await conn.execute("UPDATE ticket_sla_metric SET next_check_at = warn_at")
        for table in ("ticket", "ticket_sla", "ticket_sla_metric"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        await conn.execute("ANALYZE")  # the agents' tables too, as autovacuum would
        loaded = time.perf_counter() - started
        print(f"loaded {args.tickets:,} open tickets with SLA clocks in {loaded:.0f} s")
        sample = await conn.fetch(
            "SELECT id FROM ticket WHERE assignee_id IS NULL ORDER BY random() LIMIT $1",
            args.decisions + 20,
        )
        return {
            "org": org,
            "now": now,
            "categories": categories,
            "teams": teams,
            "sample": [row["id"] for row in sample],
        }
    finally:
        await conn.close()


async def loaded(url: str, decisions: int) -> dict[str, Any]:
    """The world of a database loaded by an earlier run (``--reuse``)."""
    conn = await asyncpg.connect(dsn(url))
    try:
        sample = await conn.fetch(
            "SELECT id FROM ticket WHERE assignee_id IS NULL ORDER BY random() LIMIT $1",
            decisions + 20,
        )
        return {
            "org": await conn.fetchval("SELECT id FROM organization"),
            "categories": [
                r["id"] for r in await conn.fetch("SELECT id FROM category ORDER BY name")
            ],
            "teams": [r["id"] for r in await conn.fetch("SELECT id FROM team ORDER BY name")],
            "sample": [row["id"] for row in sample],
        }
    finally:
        await conn.close()


def rule_bodies(count: int, categories: list[uuid.UUID], teams: list[uuid.UUID]) -> list[Any]:
    """Mostly narrow rules (tagging on word, priority, plan and language); one assignment
    rule per category, and a catch-all at the end."""
    from ticketcreator.routing.schemas import RuleCreate

    rng = random.Random(11)
    bodies = []
    per_category = len(categories)
    for i in range(count - per_category - 1):
        word = rng.choice(WORDS)
        bodies.append(
            RuleCreate(
                name=f"tag {i}",
                conditions={
                    "all": [
                        {"field": "priority", "op": "in", "value": rng.sample(PRIORITIES, 2)},
                        {"field": "text", "op": "contains", "value": word},
                        {
                            "any": [
                                {"field": "language", "op": "eq", "value": rng.choice(LANGUAGES)},
                                {
                                    "field": "custom_field",
                                    "key": "plan",
                                    "op": "eq",
                                    "value": "enterprise",
                                },
                                {"field": "text", "op": "matches", "value": rf"\b{word}\w*\b"},
                            ]
                        },
                    ]
                },
                actions=[{"type": "add_tags", "tags": [f"{word}-{i % 7}"]}],
            )
        )
    for i, category in enumerate(categories):
        bodies.append(
            RuleCreate(
                name=f"category {i}",
                conditions={"all": [{"field": "category", "op": "eq", "value": str(category)}]},
                actions=[{"type": "assign", "team_id": str(teams[i % len(teams)])}],
                stop=True,
            )
        )
    bodies.append(
        RuleCreate(name="catch-all", actions=[{"type": "assign", "team_id": str(teams[0])}])
    )
    return bodies


def quantiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


async def run(args: argparse.Namespace, world: dict[str, Any]) -> None:
    from sqlalchemy import text

    from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
    from ticketcreator.core.db import dispose_engine, session_factory, utcnow
    from ticketcreator.routing import assignment, engine, flows
    from ticketcreator.routing import rules as routing_rules
    from ticketcreator.routing.models import Trigger
    from ticketcreator.tickets.actors import AutomatedPrincipal

    org = world["org"]
    admin = AutomatedPrincipal(
        organization_id=org, role=Role.ADMIN, permissions=ROLE_PERMISSIONS[Role.ADMIN]
    )
    async with session_factory()() as session:
        if not (await engine.active_rules(session, org)).rules:
            for body in rule_bodies(args.rules, world["categories"], world["teams"]):
                await routing_rules.create_rule(session, admin, body)
        await session.commit()

    async def decide(ticket_id: uuid.UUID) -> tuple[float, float, bool]:
        async with session_factory()() as session:
            # The change the rules react to (the triage's run, a person's PATCH) has locked
            # the ticket in this transaction already; the rules take that row.
            await flows.locked_ticket(session, ticket_id, org)
            started, cpu = time.perf_counter(), time.process_time()
            ticket = await flows.locked_ticket(session, ticket_id, org)
            assert ticket is not None
            now = utcnow()
            ruleset, facts = await engine.prepare(session, ticket, now)
            plan = engine.plan(ruleset, facts, Trigger.TRIAGED.value)
            assert plan.assign is not None
            assert plan.assign.team_id is not None
            choice = await assignment.choose(
                session,
                org,
                plan.assign.team_id,
                plan.assign.strategy,
                category_id=facts.category_id,
                language=facts.language,
                now=now,
            )
            elapsed = (time.perf_counter() - started) * 1000
            cpu = (time.process_time() - cpu) * 1000
            await session.rollback()
            return elapsed, cpu, choice.user_id is not None

    async def route(ticket_id: uuid.UUID) -> float:
        async with session_factory()() as session:
            started = time.perf_counter()
            ticket = await flows.locked_ticket(session, ticket_id, org)
            assert ticket is not None
            await flows.route(session, ticket, Trigger.TRIAGED)
            await session.flush()
            elapsed = (time.perf_counter() - started) * 1000
            await session.rollback()
            return elapsed

    async def round_trip(_: uuid.UUID) -> float:
        async with session_factory()() as session:
            started = time.perf_counter()
            await session.execute(text("SELECT 1"))
            elapsed = (time.perf_counter() - started) * 1000
            await session.rollback()
            return elapsed

    sample = world["sample"]
    for ticket_id in sample[:20]:  # warm up: connections, compiled rules
        await decide(ticket_id)
    decisions, cpu_times, chosen = [], [], 0
    for ticket_id in sample[20:]:
        elapsed, cpu, found = await decide(ticket_id)
        decisions.append(elapsed)
        cpu_times.append(cpu)
        chosen += found
    full = [await route(ticket_id) for ticket_id in sample[20:]]
    trips = [await round_trip(ticket_id) for ticket_id in sample[20:]]

    await dispose_engine()
    d50, d99 = quantiles(decisions)
    c50, c99 = quantiles(cpu_times)
    f50, f99 = quantiles(full)
    r50, r99 = quantiles(trips)
    print(f"\nrouting decision over {args.rules} rules, {args.agents} agents "
          f"({len(decisions)} tickets, {chosen} got an agent)")  # fmt: skip
    print(f"  decision (rules evaluated + assignee chosen)  p50 {d50:6.2f} ms   p99 {d99:6.2f} ms")
    print("    (on the row the triggering change locked; the full run below locks it itself)")
    print(f"  of which CPU time of this process (load-proof) p50 {c50:6.2f} ms   p99 {c99:6.2f} ms")
    print(f"  full routing run (plus writes and timeline)   p50 {f50:6.2f} ms   p99 {f99:6.2f} ms")
    print(f"  one database round trip (SELECT 1), for scale  p50 {r50:6.2f} ms   p99 {r99:6.2f} ms")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


async def checker(args: argparse.Namespace) -> None:
    """One checker run over the clocks due now, and the plan of its query."""
    from sqlalchemy import text

    from ticketcreator.core.db import dispose_engine, session_factory
    from ticketcreator.routing import flows

    async with session_factory()() as session:
        if args.checker_only or args.reuse:  # a loaded database: make ``--due`` clocks due
            await session.execute(
                text(
                    "UPDATE ticket_sla_metric SET warned_at = NULL, state = 'running',"
                    " warn_at = now() - interval '1 minute', next_check_at = now()"
                    " - interval '1 minute' WHERE ticket_id IN (SELECT ticket_id FROM"
                    " ticket_sla_metric WHERE next_check_at > now() LIMIT :due)"
                ),
                {"due": args.due},
            )
            await session.commit()
        plan = await session.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM ticket_sla_metric"
                " WHERE next_check_at IS NOT NULL AND next_check_at <= now()"
                " ORDER BY next_check_at LIMIT 500 FOR UPDATE SKIP LOCKED"
            )
        )
        explain = [row[0] for row in plan.all()]
        await session.rollback()
        total = await session.scalar(text("SELECT count(*) FROM ticket WHERE deleted_at IS NULL"))
        await session.rollback()
    async with session_factory()() as session:
        started = time.perf_counter()
        handled = await flows.check_deadlines(session, limit=500)
        await session.commit()
        checker_s = time.perf_counter() - started
    await dispose_engine()
    print(f"\nSLA checker over {total:,} open tickets: {handled} clocks due, "
          f"one run {checker_s * 1000:.0f} ms (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print("  plan of its query:")
    for line in explain:
        print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="open tickets to load")
    parser.add_argument("--assigned", type=int, default=25_000, help="of them held by agents")
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=500, help="tickets timed")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the database an earlier run loaded (decisions are rolled back)",
    )
    parser.add_argument(
        "--checker-only",
        action="store_true",
        help="reuse the loaded database: make --due clocks due and run only the checker",
    )
    parser.add_argument("--due", type=int, default=400, help="clocks due with --checker-only")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/tc_bench_routing",
        help="scratch database (dropped and recreated)",
    )
    args = parser.parse_args()
    os.environ["TC_DATABASE__URL"] = args.database_url
    os.environ.setdefault("TC_LOGGING__LEVEL", "WARNING")
    if args.reuse:
        asyncio.run(run(args, asyncio.run(loaded(args.database_url, args.decisions))))
    elif not args.checker_only:
        asyncio.run(recreate(args.database_url))
        from alembic import command

        from ticketcreator.cli import alembic_config

        command.upgrade(alembic_config(args.database_url), "head")  # type: ignore[arg-type]
        world = asyncio.run(load(args.database_url, args))
        asyncio.run(run(args, world))
    asyncio.run(checker(args))


if __name__ == "__main__":
    main()
