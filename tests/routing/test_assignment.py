"""Assignment strategies within capacity and availability, and their behaviour under
parallel assignment in real concurrent database sessions."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from tests.conftest import TEST_DATABASE_URL
from tests.routing.conftest import call, create_rule, create_team, events, in_session, new_ticket
from tests.support.factories import Member
from ticketcreator.core.db import commit, utcnow
from ticketcreator.routing import flows
from ticketcreator.routing.models import Trigger


async def route_in(maker: async_sessionmaker[AsyncSession], ticket_id: str) -> None:
    async with maker() as db:
        ticket = await flows.locked_ticket(db, uuid.UUID(ticket_id))
        assert ticket is not None
        await flows.route(db, ticket, Trigger.TRIAGED)
        await commit(db)


@pytest.fixture
async def sessions(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of their own pool: 50 connections, so 50 assignments really run at once."""
    engine = create_async_engine(TEST_DATABASE_URL, pool_size=50, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def assignees(
    client: httpx.AsyncClient, admin: Member, tickets: list[dict[str, Any]]
) -> Counter[str | None]:
    found: Counter[str | None] = Counter()
    for ticket in tickets:
        found[(await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["assignee_id"]] += 1
    return found


async def set_agent(
    client: httpx.AsyncClient, admin: Member, agent: Member, **body: Any
) -> dict[str, Any]:
    result: dict[str, Any] = await call(
        client, admin, "PATCH", f"/v1/routing/agents/{agent.user.id}", json=body
    )
    return result


async def route_one(ticket: dict[str, Any]) -> None:
    async def run(db: AsyncSession) -> None:
        locked = await flows.locked_ticket(db, uuid.UUID(ticket["id"]))
        assert locked is not None
        await flows.route(db, locked, Trigger.TRIAGED)

    await in_session(run)


async def test_round_robin_takes_turns(
    client: httpx.AsyncClient, admin: Member, agents: list[Member]
) -> None:
    team = await create_team(client, admin, agents)
    await create_rule(client, admin, actions=[{"type": "assign", "team_id": team}])
    tickets = [await new_ticket(client, admin) for _ in range(6)]
    order = []
    for ticket in tickets:
        await route_one(ticket)
        order.append(
            (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["assignee_id"]
        )
    assert order[:3] == order[3:]
    assert len(set(order)) == 3
    assigned = await events(tickets[0]["id"], "auto_assigned")
    assert assigned[0].new["strategy"] == "round_robin"
    assert assigned[0].new["user_id"] == order[0]


async def test_least_open_tickets(
    client: httpx.AsyncClient, admin: Member, agents: list[Member]
) -> None:
    busy, idle, half = agents
    team = await create_team(client, admin, agents)
    await call(
        client, admin, "PUT", f"/v1/routing/teams/{team}/strategy", json={"strategy": "least_open"}
    )
    for member, count in ((busy, 3), (half, 1)):
        for _ in range(count):
            await new_ticket(client, admin, assignee_id=str(member.user.id))
    await create_rule(client, admin, actions=[{"type": "assign", "team_id": team}])
    first, second, third = [await new_ticket(client, admin) for _ in range(3)]
    for ticket in (first, second, third):
        await route_one(ticket)
    got = [
        (await call(client, admin, "GET", f"/v1/tickets/{t['id']}"))["assignee_id"]
        for t in (first, second, third)
    ]
    assert got[0] == str(idle.user.id)  # 0 open
    assert set(got[1:]) == {str(idle.user.id), str(half.user.id)}  # 1 and 1
    assert str(busy.user.id) not in got


async def test_skills_match_category_and_language(
    client: httpx.AsyncClient, admin: Member, agents: list[Member]
) -> None:
    generalist, billing_expert, german_speaker = agents
    category = await call(client, admin, "POST", "/v1/categories", 201, json={"name": "Billing"})
    team = await create_team(client, admin, agents)
    for member, skills in (
        (billing_expert, [{"kind": "category", "value": category["id"], "level": 5}]),
        (german_speaker, [{"kind": "language", "value": "de", "level": 3},
                          {"kind": "category", "value": category["id"], "level": 1}]),
    ):  # fmt: skip
        agent = await call(
            client,
            admin,
            "PUT",
            f"/v1/routing/agents/{member.user.id}/skills",
            json={"skills": skills},
        )
        assert len(agent["skills"]) == len(skills)
    await create_rule(
        client, admin, actions=[{"type": "assign", "team_id": team, "strategy": "skills"}]
    )
    billing = await new_ticket(client, admin, category_id=category["id"])
    await route_one(billing)
    got = await call(client, admin, "GET", f"/v1/tickets/{billing['id']}")
    assert got["assignee_id"] == str(billing_expert.user.id)
    assert (await events(billing["id"], "auto_assigned"))[0].new["skill_score"] == 5
    # German language is known from the AI analysis: a draft shows the pick
    draft = {"category_id": category["id"], "language": "de", "team_id": team}
    preview = await call(client, admin, "POST", "/v1/routing/dry-run", json={"draft": draft})
    assert preview["assignment"]["skill_score"] == 5  # 5 (billing) vs 3 + 1 (german, billing)
    draft = {"language": "de", "team_id": team}
    preview = await call(client, admin, "POST", "/v1/routing/dry-run", json={"draft": draft})
    assert preview["assignment"]["user_id"] == str(german_speaker.user.id)
    bad = {"skills": [{"kind": "category", "value": "Billing", "level": 2}]}
    response = await client.put(
        f"/v1/routing/agents/{generalist.user.id}/skills", json=bad, headers=admin.headers
    )
    assert response.status_code == 422
    assert response.json()["field"] == "skills[0].value"


async def test_capacity_and_availability(
    client: httpx.AsyncClient, admin: Member, agents: list[Member]
) -> None:
    full, away, off = agents
    team = await create_team(client, admin, agents)
    await set_agent(client, admin, full, capacity=1)
    await new_ticket(client, admin, assignee_id=str(full.user.id))
    await set_agent(
        client,
        admin,
        away,
        availability="away",
        away_until=(utcnow() + timedelta(hours=1)).isoformat(),
    )
    await set_agent(client, admin, off, availability="off")
    await create_rule(client, admin, actions=[{"type": "assign", "team_id": team}])
    ticket = await new_ticket(client, admin)
    await route_one(ticket)
    assert (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["assignee_id"] is None
    skipped = await events(ticket["id"], "assignment_skipped")
    assert skipped[0].new["reason"] == "no available agent with a free slot"
    # away until a moment that has passed: available again
    await set_agent(client, admin, away, away_until=(utcnow() - timedelta(minutes=1)).isoformat())
    again = await new_ticket(client, admin)
    await route_one(again)
    assert (await call(client, admin, "GET", f"/v1/tickets/{again['id']}"))["assignee_id"] == str(
        away.user.id
    )


async def test_fifty_parallel_assignments_stay_fair(
    client: httpx.AsyncClient,
    admin: Member,
    agents: list[Member],
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
) -> None:
    from tests.support.factories import create_member
    from ticketcreator.accounts.permissions import Role

    more = [await create_member(session, admin.organization, Role.AGENT) for _ in range(4)]
    team = await create_team(client, admin, [*agents, *more])
    for member in [*agents, *more]:
        await set_agent(client, admin, member, capacity=100)
    await create_rule(client, admin, actions=[{"type": "assign", "team_id": team}])
    tickets = [await new_ticket(client, admin) for _ in range(50)]
    await asyncio.gather(*(route_in(sessions, t["id"]) for t in tickets))
    counts = await assignees(client, admin, tickets)
    assert None not in counts
    assert sum(counts.values()) == 50
    assert len(counts) == 7
    assert max(counts.values()) - min(counts.values()) <= 1, counts


async def test_the_last_free_slot_is_given_once(
    client: httpx.AsyncClient,
    admin: Member,
    agents: list[Member],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    shared, second, _ = agents
    team_a = await create_team(client, admin, [shared, second])
    team_b = await create_team(client, admin, [shared])
    for member in (shared, second):
        await set_agent(client, admin, member, capacity=1)
    await create_rule(
        client,
        admin,
        conditions={"all": [{"field": "tags", "op": "contains", "value": "a"}]},
        actions=[{"type": "assign", "team_id": team_a}],
    )
    await create_rule(
        client,
        admin,
        conditions={"all": [{"field": "tags", "op": "contains", "value": "b"}]},
        actions=[{"type": "assign", "team_id": team_b}],
    )
    tickets = [await new_ticket(client, admin, tags=["a" if i % 2 else "b"]) for i in range(20)]
    await asyncio.gather(*(route_in(sessions, t["id"]) for t in tickets))
    counts = await assignees(client, admin, tickets)
    assert counts[str(shared.user.id)] == 1
    assert counts[str(second.user.id)] == 1
    assert counts[None] == 18
