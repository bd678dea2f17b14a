"""The real worker: tickets created through the API in a burst are triaged, routed by the
rules, assigned fairly and get their SLA targets, and the timeline says which rule fired."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.routing.conftest import call, create_rule, create_team, events
from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role


async def test_a_burst_of_tickets_is_routed_by_the_worker(
    client: httpx.AsyncClient,
    admin: Member,
    session: AsyncSession,
    celery_worker: Worker,
) -> None:
    crew = [await create_member(session, admin.organization, Role.AGENT) for _ in range(3)]
    team = await create_team(client, admin, crew)
    await call(
        client,
        admin,
        "POST",
        "/v1/routing/sla-policies",
        201,
        json={
            "name": "Standard",
            "is_default": True,
            "targets": [
                {"priority": p, "first_response_minutes": 60, "resolution_minutes": 480}
                for p in ("low", "normal", "high", "urgent")
            ],
        },
    )
    await create_rule(
        client,
        admin,
        name="Everything to the crew",
        actions=[{"type": "assign", "team_id": team}, {"type": "add_tags", "tags": ["routed"]}],
    )
    titles = [f"Checkout page {n} shows a blank screen" for n in range(6)]
    created = await asyncio.gather(
        *(
            client.post("/v1/tickets", json={"title": title}, headers=admin.headers)
            for title in titles
        )
    )
    tickets = [response.json() for response in created]

    async def all_routed() -> list[dict[str, Any]] | None:
        current = [
            await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}") for ticket in tickets
        ]
        return current if all(t["assignee_id"] for t in current) else None

    routed = await wait_for(all_routed, timeout=240)
    spread = Counter(t["assignee_id"] for t in routed)
    assert set(spread) == {str(member.user.id) for member in crew}
    assert max(spread.values()) - min(spread.values()) <= 1
    assert all("routed" in t["tags"] for t in routed)
    for ticket in tickets:
        fired = await events(ticket["id"], "rule_fired")
        assert fired[0].new["rule"] == "Everything to the crew"
        assert fired[0].new["trigger"] == "triaged"
        state = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/sla")
        assert {m["metric"] for m in state["metrics"]} == {"first_response", "resolution"}
