"""SLA policies and clocks: targets per priority and category, recomputation, pause while
waiting, replies, resolution and reopening, the checker's warnings, breaches and escalations,
business hours across a daylight-saving change and a holiday, and the ticket API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.routing.conftest import call, create_team, events, in_session, new_ticket
from tests.support.factories import Member
from ticketcreator.core.outbox import OutboxEvent, message_of
from ticketcreator.routing import flows, sla
from ticketcreator.routing import repository as repo
from ticketcreator.routing.models import Metric, TicketSlaMetric
from ticketcreator.tickets.models import Status, Ticket


async def policy(client: httpx.AsyncClient, admin: Member, **fields: Any) -> dict[str, Any]:
    body = {"name": uuid.uuid4().hex[:8], **fields}
    result: dict[str, Any] = await call(
        client, admin, "POST", "/v1/routing/sla-policies", 201, json=body
    )
    return result


async def message(session: AsyncSession, ticket_id: str, topic: str) -> dict[str, Any]:
    """The latest outbox message of ``topic`` about the ticket, as a subscriber receives it."""
    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.topic == topic, OutboxEvent.payload["ticket_id"].astext == ticket_id)
        .order_by(OutboxEvent.created_at.desc())
    )
    return message_of(rows.first())  # type: ignore[arg-type]


async def metrics(ticket_id: str) -> dict[str, TicketSlaMetric]:
    async def read(db: AsyncSession) -> dict[str, TicketSlaMetric]:
        return {m.metric.value: m for m in await repo.ticket_metrics(db, uuid.UUID(ticket_id))}

    result: dict[str, TicketSlaMetric] = await in_session(read)
    return result


async def created(ticket: dict[str, Any]) -> None:
    await in_session(flows.on_created, uuid.UUID(ticket["id"]))


async def at(ticket_id: str, moment: datetime) -> None:
    """Move the ticket's creation (and its clocks' start) to ``moment``."""

    async def move(db: AsyncSession) -> None:
        await db.execute(
            update(Ticket).where(Ticket.id == uuid.UUID(ticket_id)).values(created_at=moment)
        )
        await db.execute(
            update(TicketSlaMetric)
            .where(TicketSlaMetric.ticket_id == uuid.UUID(ticket_id))
            .values(started_at=moment)
        )

    await in_session(move)


async def recompute(ticket_id: str, now: datetime) -> None:
    async def run(db: AsyncSession) -> None:
        ticket = await flows.locked_ticket(db, uuid.UUID(ticket_id))
        assert ticket is not None
        await sla.apply_policy(db, ticket, None, now)

    await in_session(run)


async def status(ticket_id: str, old: Status, new: Status, now: datetime) -> str | None:
    async def run(db: AsyncSession) -> str | None:
        ticket = await flows.locked_ticket(db, uuid.UUID(ticket_id))
        assert ticket is not None
        return await sla.on_status(db, ticket, old, new, now)

    result: str | None = await in_session(run)
    return result


async def test_targets_per_priority_and_category_follow_changes(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession
) -> None:
    billing = await call(client, admin, "POST", "/v1/categories", 201, json={"name": "Billing"})
    await policy(
        client,
        admin,
        is_default=True,
        targets=[
            {"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 480},
            {"priority": "high", "first_response_minutes": 30, "resolution_minutes": 240},
            {"priority": "normal", "category_id": billing["id"], "first_response_minutes": 15},
        ],
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    state = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/sla")
    targets = {m["metric"]: m["target_minutes"] for m in state["metrics"]}
    assert targets == {"first_response": 60, "resolution": 480}
    assert state["paused"] is False
    assert state["breached"] is False
    remaining = state["metrics"][0]["remaining_business_seconds"]
    assert 59 * 60 < remaining <= 60 * 60
    await call(client, admin, "PATCH", f"/v1/tickets/{ticket['id']}", json={"priority": "high"})
    await in_session(flows.on_updated, await message(session, ticket["id"], "ticket.updated"))
    found = await metrics(ticket["id"])
    assert found["first_response"].target_s == 30 * 60
    assert found["resolution"].due_at == found["resolution"].started_at + timedelta(hours=4)
    applied = await events(ticket["id"], "sla_applied")
    assert [e.new["due"].keys() for e in applied][-1] == {"first_response", "resolution"}
    billing_ticket = await new_ticket(client, admin, category_id=billing["id"])
    await created(billing_ticket)
    assert set(await metrics(billing_ticket["id"])) == {"first_response"}
    assert (await metrics(billing_ticket["id"]))["first_response"].target_s == 15 * 60


async def test_waiting_on_the_reporter_pauses_every_clock(
    client: httpx.AsyncClient, admin: Member
) -> None:
    await policy(
        client, admin, is_default=True, targets=[{"priority": "normal", "resolution_minutes": 480}]
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    await at(ticket["id"], start)
    await recompute(ticket["id"], start)
    assert (
        await status(ticket["id"], Status.OPEN, Status.WAITING, start + timedelta(hours=1))
        == "paused"
    )
    paused = (await metrics(ticket["id"]))["resolution"]
    assert paused.state == "paused"
    assert paused.next_check_at is None
    assert (
        await status(ticket["id"], Status.WAITING, Status.OPEN, start + timedelta(hours=3))
        == "resumed"
    )
    resumed = (await metrics(ticket["id"]))["resolution"]
    assert resumed.paused_s == 2 * 3600
    assert resumed.due_at == start + timedelta(hours=10)
    assert resumed.state == "running"
    assert resumed.next_check_at == start + timedelta(hours=8 * 0.8 + 2)


async def test_resolution_stops_and_reopening_resumes(
    client: httpx.AsyncClient, admin: Member
) -> None:
    await policy(
        client,
        admin,
        is_default=True,
        targets=[{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 480}],
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    await at(ticket["id"], start)
    await recompute(ticket["id"], start)
    assert (
        await status(ticket["id"], Status.OPEN, Status.RESOLVED, start + timedelta(hours=1))
        == "stopped"
    )
    done = await metrics(ticket["id"])
    assert {m.state for m in done.values()} == {"met"}
    assert (
        await status(ticket["id"], Status.RESOLVED, Status.OPEN, start + timedelta(hours=2))
        == "reopened"
    )
    again = await metrics(ticket["id"])
    assert again["first_response"].state == "met"
    assert again["resolution"].state == "running"
    assert again["resolution"].due_at == start + timedelta(hours=9)


async def test_replies_stop_and_start_the_response_clocks(
    client: httpx.AsyncClient, admin: Member, agent: Member, reporter: Member, session: AsyncSession
) -> None:
    await policy(
        client,
        admin,
        is_default=True,
        targets=[
            {"priority": "normal", "first_response_minutes": 60, "next_response_minutes": 120}
        ],
    )
    ticket = await new_ticket(client, reporter)
    await created(ticket)
    path = f"/v1/tickets/{ticket['id']}/comments"

    async def comment(member: Member, body: str, internal: bool = False) -> None:
        await call(client, member, "POST", path, 201, json={"body": body, "internal": internal})
        await in_session(
            flows.on_commented, await message(session, ticket["id"], "ticket.commented")
        )

    await comment(agent, "looking into it", internal=True)  # an internal note is no response
    assert (await metrics(ticket["id"]))["first_response"].done_at is None
    await comment(agent, "Could you send a screenshot?")
    found = await metrics(ticket["id"])
    assert found["first_response"].state == "met"
    assert "next_response" not in found
    await comment(reporter, "Here it is")
    found = await metrics(ticket["id"])
    assert found["next_response"].state == "running"
    assert found["next_response"].target_s == 7200
    await comment(agent, "Thanks, fixed.")
    assert (await metrics(ticket["id"]))["next_response"].state == "met"
    kinds = [e.kind for e in await events(ticket["id"]) if e.kind.startswith("sla_")]
    assert kinds[-3:] == [
        "sla_first_response_given",
        "sla_next_response_started",
        "sla_next_response_given",
    ]


async def test_checker_warns_breaches_and_escalates(
    client: httpx.AsyncClient,
    admin: Member,
    agent: Member,
    outsider: Member,
    session: AsyncSession,
) -> None:
    team = await create_team(client, admin, [agent])
    targets = [{"priority": p, "first_response_minutes": 60} for p in ("normal", "high", "urgent")]
    await policy(
        client,
        admin,
        is_default=True,
        warn_share=0.5,
        targets=targets,
        escalation={
            "warning": [{"type": "raise_priority"}],
            "breach": [{"type": "assign", "team_id": team}],
        },
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    start = (await metrics(ticket["id"]))["first_response"].started_at - timedelta(hours=2)
    await at(ticket["id"], start)
    await recompute(ticket["id"], start)

    async def check(minutes: int) -> int:
        result: int = await in_session(flows.check_deadlines, start + timedelta(minutes=minutes))
        return result

    assert await check(10) == 0
    assert await check(31) == 1
    assert await check(32) == 0  # warned once
    warned = await events(ticket["id"], "sla_warning")
    assert warned[0].new["metric"] == "first_response"
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert after["priority"] == "high"
    listed = await call(client, admin, "GET", "/v1/tickets", params={"sla": "at_risk"})
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]
    assert await check(61) == 1
    breached = await events(ticket["id"], "sla_breached")
    assert breached[0].new["due_at"] == (start + timedelta(hours=1)).isoformat()
    escalated = await events(ticket["id"], "sla_escalated")
    assert [e.new["escalation"] for e in escalated] == ["warning", "breach"]
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert after["assignee_id"] == str(agent.user.id)
    listed = await call(client, admin, "GET", "/v1/tickets", params={"sla": "breached"})
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]
    # another organization's breached tickets are not the outsider's
    elsewhere = await call(client, outsider, "GET", "/v1/tickets", params={"sla": "breached"})
    assert elsewhere["items"] == []
    assert (await call(client, admin, "GET", "/v1/tickets", params={"sla": "at_risk"}))[
        "items"
    ] == []
    state = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/sla")
    assert state["breached"] is True
    assert state["metrics"][0]["remaining_business_seconds"] < 0
    topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert {"ticket.sla_warning", "ticket.sla_breached"} <= set(topics)


async def test_the_periodic_task_checks_due_clocks(
    client: httpx.AsyncClient, admin: Member
) -> None:
    from ticketcreator.routing import tasks

    await policy(
        client, admin, is_default=True, targets=[{"priority": "normal", "resolution_minutes": 1}]
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    await at(ticket["id"], datetime(2026, 1, 1, tzinfo=UTC))
    await recompute(ticket["id"], datetime(2026, 1, 1, tzinfo=UTC))
    assert await tasks._check() == 1
    assert (await metrics(ticket["id"]))["resolution"].state == "breached"


async def test_business_hours_across_daylight_saving_and_a_holiday(
    client: httpx.AsyncClient, admin: Member
) -> None:
    calendar = await call(
        client,
        admin,
        "POST",
        "/v1/routing/calendars",
        201,
        json={
            "name": "Berlin office",
            "timezone": "Europe/Berlin",
            "hours": {str(d): [["09:00", "17:00"]] for d in range(5)},
            "holidays": ["2026-10-27"],
        },
    )
    await policy(
        client,
        admin,
        is_default=True,
        calendar_id=calendar["id"],
        targets=[{"priority": "normal", "first_response_minutes": 240, "resolution_minutes": 720}],
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    friday = datetime(2026, 10, 23, 13, 0, tzinfo=UTC)  # 15:00 CEST; clocks go back on Sunday
    await at(ticket["id"], friday)
    await recompute(ticket["id"], friday)
    found = await metrics(ticket["id"])
    # 2 h on Friday + 2 h on Monday from 09:00 CET (08:00 UTC)
    assert found["first_response"].due_at == datetime(2026, 10, 26, 10, 0, tzinfo=UTC)
    # 2 h Friday + 8 h Monday, Tuesday is a holiday, 2 h on Wednesday
    assert found["resolution"].due_at == datetime(2026, 10, 28, 10, 0, tzinfo=UTC)
    assert found["first_response"].warn_at == datetime(2026, 10, 26, 9, 12, tzinfo=UTC)


async def test_sla_state_is_for_agents_and_its_filter_too(
    client: httpx.AsyncClient, admin: Member, reporter: Member
) -> None:
    ticket = await new_ticket(client, reporter)
    await call(client, reporter, "GET", f"/v1/tickets/{ticket['id']}/sla", 403)
    await call(client, reporter, "GET", "/v1/tickets", 403, params={"sla": "breached"})
    none = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}/sla")
    assert none == {
        "policy_id": None,
        "policy": None,
        "paused": False,
        "breached": False,
        "metrics": [],
    }
    await call(client, admin, "GET", "/v1/tickets", 422, params={"sla": "late"})


async def test_metric_enum_is_the_api_vocabulary() -> None:
    assert [m.value for m in Metric] == ["first_response", "next_response", "resolution"]


async def test_a_changed_policy_recomputes_its_tickets(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession
) -> None:
    standard = await policy(
        client, admin, is_default=True, targets=[{"priority": "normal", "resolution_minutes": 60}]
    )
    tickets = [await new_ticket(client, admin) for _ in range(3)]
    for ticket in tickets:
        await created(ticket)
    path = f"/v1/routing/sla-policies/{standard['id']}"
    targets = [{"priority": "normal", "resolution_minutes": 120}]
    await call(client, admin, "PATCH", path, json={"targets": targets})
    changed = (
        await session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "routing.sla_policy_changed")
        )
    ).one()
    # in batches of 2, as the worker's subscriber does in batches of 500
    done = await in_session(flows.on_policy_changed, uuid.UUID(changed.payload["policy_id"]), 2)
    assert done == 3
    for ticket in tickets:
        assert (await metrics(ticket["id"]))["resolution"].target_s == 7200


async def test_checker_drops_clocks_of_deleted_tickets(
    client: httpx.AsyncClient, admin: Member
) -> None:
    await policy(
        client, admin, is_default=True, targets=[{"priority": "normal", "resolution_minutes": 1}]
    )
    ticket = await new_ticket(client, admin)
    await created(ticket)
    await call(client, admin, "DELETE", f"/v1/tickets/{ticket['id']}", 204)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await in_session(flows.check_deadlines, later) == 0
    assert (await metrics(ticket["id"]))["resolution"].next_check_at is None
