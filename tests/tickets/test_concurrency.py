from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.support.polling import wait_for, waiting_on_a_lock
from tests.support.services import Worker
from tests.tickets.conftest import new_ticket
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.core.tasks import celery_app
from ticketcreator.tickets import idempotency, repository
from ticketcreator.tickets.models import (
    IdempotencyKey,
    Priority,
    Source,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
)
from ticketcreator.tickets.schemas import TicketCreate


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


async def test_a_number_is_taken_for_good_so_an_open_create_holds_no_other_up(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    """A create takes its number in a statement committed at once: a create whose
    transaction is still open holds no other create up, and if it rolls back its number stays
    unused (a gap), never given twice. A refused create takes no number."""
    first = await new_ticket(client, agent)
    async with session_factory()() as holder:
        now = utcnow()
        taken = await repository.take_number(holder, agent.org_id)
        assert taken == first["number"] + 1
        held = Ticket(
            id=uuid.uuid4(), organization_id=agent.org_id, number=taken, title="Held",
            description="", status=Status.OPEN, priority=Priority.NORMAL, type=TicketType.BUG,
            source=Source.API, reporter_id=agent.user.id, custom_fields={}, version=1,
            created_at=now, updated_at=now,
        )  # fmt: skip
        await holder.connection()  # its transaction, left open with the insert
        await repository.insert_ticket(holder, held, "english")
        created = await asyncio.wait_for(
            client.post("/v1/tickets", json={"title": "Next"}, headers=agent.headers), 10
        )
        assert created.status_code == 201, created.text
        assert created.json()["number"] == taken + 1
        await holder.rollback()
    refused = await client.post(
        "/v1/tickets",
        json={"title": "Bad category", "category_id": str(uuid.uuid4())},
        headers=agent.headers,
    )
    assert refused.status_code == 422, refused.text
    after = await new_ticket(client, agent)
    assert after["number"] == taken + 2
    numbers = await session.scalars(
        select(Ticket.number).where(Ticket.organization_id == agent.org_id).order_by(Ticket.number)
    )
    assert list(numbers) == [first["number"], taken + 1, taken + 2]


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


async def test_a_create_whose_key_a_concurrent_request_commits_first_replays_that_response(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    """A retry finds no key, creates, and a concurrent request commits the same key before
    its write: its own ticket is rolled back and it replays the winner's response (its number
    stays unused)."""
    winner = await new_ticket(client, agent)
    body = {"title": "Video upload stalls"}
    claim = IdempotencyKey(
        id=uuid.uuid4(), organization_id=agent.org_id, principal=f"user:{agent.user.id}",
        key="raced-1", request_hash=idempotency._fingerprint(TicketCreate(**body), ""),
        response_status=201, response_body=winner, created_at=utcnow(),
    )  # fmt: skip
    async with session_factory()() as holder:
        holder.add(claim)
        await holder.flush()  # the key is claimed; its claim not yet committed
        retry = asyncio.create_task(
            client.post(
                "/v1/tickets", json=body, headers={**agent.headers, "Idempotency-Key": "raced-1"}
            )
        )
        await wait_for(
            lambda: waiting_on_a_lock(session), timeout=10, what="the retry's claim waits"
        )
        await holder.commit()
    raced = await asyncio.wait_for(retry, 10)
    assert raced.status_code == 201, raced.text
    assert raced.headers["Idempotent-Replayed"] == "true"
    assert raced.json() == winner
    titles = select(Ticket.title).where(Ticket.organization_id == agent.org_id)
    assert list(await session.scalars(titles)) == [winner["title"]]
    after = await new_ticket(client, agent)
    assert after["number"] == winner["number"] + 2


async def test_an_expired_key_is_claimed_again_by_a_new_create(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    headers = {**agent.headers, "Idempotency-Key": "daily-1"}
    first = await client.post("/v1/tickets", json={"title": "Monday"}, headers=headers)
    ttl = timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "daily-1")
        .values(created_at=utcnow() - ttl - timedelta(minutes=1))
    )
    await session.commit()
    again = await client.post("/v1/tickets", json={"title": "Tuesday"}, headers=headers)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["number"] == first.json()["number"] + 1
    retry = await client.post("/v1/tickets", json={"title": "Tuesday"}, headers=headers)
    assert (retry.json(), retry.headers["Idempotent-Replayed"]) == (again.json(), "true")


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


async def test_expired_idempotency_keys_are_purged_by_the_worker(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession, celery_worker: Worker
) -> None:
    for key in ("old", "fresh"):
        headers = {**agent.headers, "Idempotency-Key": key}
        assert (await client.post("/v1/tickets", json={"title": key}, headers=headers)).is_success
    ttl = timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "old")
        .values(created_at=utcnow() - ttl - timedelta(minutes=1))
    )
    await commit(session)

    celery_app.send_task("tickets.purge_idempotency_keys", queue="default")
    deadline = asyncio.get_running_loop().time() + 60
    while (remaining := (await session.scalars(select(IdempotencyKey.key))).all()) != ["fresh"]:
        assert asyncio.get_running_loop().time() < deadline, remaining
        await commit(session)  # end the snapshot so the worker's delete becomes visible
        await asyncio.sleep(0.2)
    assert "tickets.purge_idempotency_keys" in {
        entry["task"] for entry in celery_app.conf.beat_schedule.values()
    }


async def test_a_change_a_concurrent_change_commits_first_runs_again_on_the_locked_ticket(
    client: httpx.AsyncClient,
    agent: Member,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A change read without the ticket's lock finds, when it writes, that a concurrent
    change committed meanwhile: it writes nothing (no history row, no event), runs again
    under the lock, and both changes are kept, one version each."""
    ticket = await new_ticket(client, agent)
    async with session_factory()() as holder:
        await holder.execute(
            update(Ticket)
            .where(Ticket.id == uuid.UUID(ticket["id"]))
            .values(priority=Priority.URGENT, version=Ticket.version + 1)
        )
        changing = asyncio.create_task(
            client.patch(
                f"/v1/tickets/{ticket['id']}", json={"status": "waiting"}, headers=agent.headers
            )
        )
        await wait_for(
            lambda: waiting_on_a_lock(session), timeout=10, what="the change waits on the row"
        )
        await holder.commit()
    changed = await asyncio.wait_for(changing, 10)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["status"], body["priority"], body["version"]) == (
        "waiting",
        "urgent",
        ticket["version"] + 2,
    )
    assert changed.headers["ETag"] == f'"{ticket["version"] + 2}"'
    history = select(TicketEvent.kind, TicketEvent.new).where(
        TicketEvent.ticket_id == uuid.UUID(ticket["id"]), TicketEvent.kind != "created"
    )
    assert [tuple(row) for row in await session.execute(history)] == [("status_changed", "waiting")]
    topics = select(OutboxEvent.topic).where(
        OutboxEvent.payload["ticket_id"].astext == ticket["id"]
    )
    assert sorted(await session.scalars(topics)) == [
        "ticket.created",
        "ticket.status_changed",
        "ticket.updated",
    ]
    raced = [r for r in caplog.records if getattr(r, "sqlstate", None) == "raced"]
    assert len(raced) == 1


async def test_eight_people_changing_one_ticket_at_once_each_keep_their_change(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    """Changes read without the lock race: the losers run again under the lock, one after
    another, so none is refused or lost, and each has its version and its history rows."""
    ticket = await new_ticket(client, agent)
    changes = [
        {"priority": "high"},
        {"type": "incident"},
        {"due_at": "2027-01-04T09:00:00Z"},
        {"status": "in_progress"},
        {"assignee_id": str(agent.user.id)},
        {"description": "Fails on the second page"},
        {"title": "Checkout fails"},
        {"priority": "urgent", "type": "question"},
    ]
    responses = await asyncio.gather(
        *(
            client.patch(f"/v1/tickets/{ticket['id']}", json=change, headers=agent.headers)
            for change in changes
        )
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    versions = sorted(r.json()["version"] for r in responses)
    assert versions == [ticket["version"] + n for n in range(1, 9)]
    last = max(responses, key=lambda r: r.json()["version"]).json()
    final = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert final == last
    assert (final["status"], final["assignee_id"], final["due_at"]) == (
        "in_progress",
        str(agent.user.id),
        "2027-01-04T09:00:00Z",
    )
    assert (final["title"], final["description"]) == ("Checkout fails", "Fails on the second page")
    fields_changed = select(TicketEvent.field).where(
        TicketEvent.ticket_id == uuid.UUID(ticket["id"]), TicketEvent.kind != "created"
    )
    expected = ["priority", "priority", "type", "type", "due_at", "status", "assignee_id"]
    expected += ["description", "title"]
    assert sorted(await session.scalars(fields_changed)) == sorted(expected)
