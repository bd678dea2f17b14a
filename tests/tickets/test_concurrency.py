from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.tickets.models import Ticket


async def test_50_parallel_creates_get_50_distinct_gap_free_numbers(
    client: httpx.AsyncClient, agent: Member, outsider: Member
) -> None:
    async def create(n: int) -> httpx.Response:
        return await client.post(
            "/v1/tickets", json={"title": f"Parallel {n}"}, headers=agent.headers
        )

    responses = await asyncio.gather(*(create(n) for n in range(50)))
    assert all(r.status_code == 201 for r in responses), [
        r.text for r in responses if r.status_code != 201
    ]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == list(range(1, 51))
    other = await new_ticket(client, outsider)
    assert other["number"] == 1


async def test_the_same_idempotency_key_10_times_in_parallel_creates_one_ticket(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    headers = {**agent.headers, "Idempotency-Key": "capture-7f3a"}
    body = {"title": "Video upload stalls", "tags": ["upload"]}
    responses = await asyncio.gather(
        *(client.post("/v1/tickets", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert responses[0].json() == responses[-1].json()
    count = await session.scalar(select(func.count()).select_from(Ticket))
    assert count == 1


async def test_a_retry_replays_the_first_response_and_a_new_body_is_refused(
    client: httpx.AsyncClient, agent: Member, admin: Member
) -> None:
    headers = {**agent.headers, "Idempotency-Key": "retry-1"}
    first = await client.post("/v1/tickets", json={"title": "A"}, headers=headers)
    await client.patch(
        f"/v1/tickets/{first.json()['id']}", json={"title": "B"}, headers=agent.headers
    )
    retry = await client.post("/v1/tickets", json={"title": "A"}, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    different = await client.post("/v1/tickets", json={"title": "Other"}, headers=headers)
    assert different.status_code == 422
    assert different.json()["type"].endswith("/idempotency-key-reused")
    own_key = await client.post(
        "/v1/tickets",
        json={"title": "Other"},
        headers={**admin.headers, "Idempotency-Key": "retry-1"},
    )
    assert own_key.status_code == 201
    assert own_key.json()["number"] == 2
