"""Triage runs in-process here (the worker path is covered in test_worker.py)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.statements import TICKET_ROW_READ, statements_matching
from ticketcreator.ai.triage import feedback, service
from ticketcreator.ai.triage.models import AIDecision, AISuggestion
from ticketcreator.core.db import commit
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.tickets.models import Ticket, TicketEvent

from .conftest import Org, create_ticket


async def _triage(session: AsyncSession, ticket_id: object) -> uuid.UUID:
    run_id = await service.triage(session, uuid.UUID(str(ticket_id)))
    assert run_id is not None
    await commit(session)
    return run_id


async def test_triage_applies_a_confident_category_as_the_ai(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    ticket = await create_ticket(
        client,
        org.agent,
        "Charged twice on my invoice",
        "My credit card was charged twice for the monthly subscription. Please refund the "
        "duplicate payment on invoice INV-2041.",
    )
    await _triage(session, ticket["id"])

    row = await session.get(Ticket, uuid.UUID(str(ticket["id"])))
    assert row is not None
    await session.refresh(row)
    assert row.category_id == org.categories["Billing"]
    decisions = (
        await session.scalars(select(AIDecision).where(AIDecision.ticket_id == row.id))
    ).all()
    by_agent = {d.agent: d for d in decisions}
    assert set(by_agent) == {"categorization", "priority", "summary", "analysis"}
    categorization = by_agent["categorization"]
    assert categorization.provider == "local"
    assert categorization.model_version == "zero-shot"
    assert categorization.applied_fields["category_id"] == str(org.categories["Billing"])
    assert categorization.confidence["category"] >= 0.6
    assert len(categorization.inputs_hash) == 64
    events = (
        await session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == row.id, TicketEvent.field == "category_id"
            )
        )
    ).all()
    assert [(e.actor_user_id, e.actor_api_key_id, e.actor_kind) for e in events] == [
        (None, None, "ai")
    ]
    timeline = await client.get(f"/v1/tickets/{ticket['id']}/timeline", headers=org.agent.headers)
    applied = [
        item["event"]
        for item in timeline.json()["items"]
        if item["type"] == "event" and item["event"]["field"] == "category_id"
    ]
    assert [(e["actor_kind"], e["actor_user_id"]) for e in applied] == [("ai", None)]
    updated = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "ticket.updated"))
    ).all()
    assert [u.payload["actor_kind"] for u in updated] == ["ai"] * len(updated)
    assert updated


async def _patch_config(client: httpx.AsyncClient, org: Org, body: dict[str, object]) -> None:
    response = await client.patch("/v1/ai/config", headers=org.admin.headers, json=body)
    assert response.status_code == 200, response.text


async def test_low_confidence_becomes_a_suggestion_that_can_be_accepted_or_rejected(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    await _patch_config(
        client,
        org,
        {"agents": {"categorization": {"confidence_threshold": 1.0}}},
    )
    ticket = await create_ticket(
        client,
        org.agent,
        "Cannot sign in",
        "I reset my password but the login page still says my account is locked. "
        "Two-factor codes are not accepted either.",
    )
    await _triage(session, ticket["id"])

    view = (await client.get(f"/v1/tickets/{ticket['id']}/ai", headers=org.agent.headers)).json()
    assert view["decisions"]
    by_field = {s["field"]: s for s in view["suggestions"]}
    category = by_field["category_id"]
    assert category["status"] == "pending"
    assert category["value"] == str(org.categories["Login"])
    assert 0 < category["confidence"] <= 1.0
    ticket_now = (await client.get(f"/v1/tickets/{ticket['id']}", headers=org.agent.headers)).json()
    assert ticket_now["category_id"] is None

    url = f"/v1/tickets/{ticket['id']}/ai/suggestions/{category['id']}"
    with statements_matching(TICKET_ROW_READ) as reads:
        accepted = await client.post(f"{url}/accept", headers=org.agent.headers)
    assert accepted.status_code == 200, accepted.text
    assert len(reads) == 1, reads  # the route's ticket is the one changed
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["decided_by"] == str(org.agent.user.id)
    ticket_now = (await client.get(f"/v1/tickets/{ticket['id']}", headers=org.agent.headers)).json()
    assert ticket_now["category_id"] == str(org.categories["Login"])
    again = await client.post(f"{url}/reject", headers=org.agent.headers)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/suggestion-decided")

    other = next(s for s in view["suggestions"] if s["field"] != "category_id")
    rejected = await client.post(
        f"/v1/tickets/{ticket['id']}/ai/suggestions/{other['id']}/reject",
        headers=org.agent.headers,
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    missing = await client.post(
        f"/v1/tickets/{ticket['id']}/ai/suggestions/{uuid.uuid4()}/accept",
        headers=org.agent.headers,
    )
    assert missing.status_code == 404


async def test_a_human_correction_of_an_ai_value_is_stored_as_feedback(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, monkeypatch: object
) -> None:
    from ticketcreator.ai.triage.models import AIFeedback
    from ticketcreator.core.outbox import OutboxEvent, message_of

    scheduled: list[tuple[uuid.UUID, int]] = []

    async def record(_: AsyncSession, organization_id: uuid.UUID, debounce_s: int) -> bool:
        scheduled.append((organization_id, debounce_s))
        return True

    monkeypatch.setattr(feedback, "schedule_training", record)  # type: ignore[attr-defined]
    ticket = await create_ticket(
        client,
        org.agent,
        "Dashboard is extremely slow",
        "Every page of the dashboard takes 30 seconds to load and requests time out. "
        "The reports page is the slowest.",
    )
    await _triage(session, ticket["id"])
    row = await session.get(Ticket, uuid.UUID(str(ticket["id"])))
    assert row is not None
    await session.refresh(row)
    assert row.category_id == org.categories["Performance"]

    changed = await client.patch(
        f"/v1/tickets/{ticket['id']}",
        headers=org.agent.headers,
        json={"category_id": str(org.categories["Billing"])},
    )
    assert changed.status_code == 200, changed.text
    events = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == "ticket.updated")
            .order_by(OutboxEvent.created_at)
        )
    ).all()
    for event in events:  # the AI's own update first (no feedback), then the person's
        await feedback.record_feedback(session, message_of(event))
        await commit(session)

    stored = (await session.scalars(select(AIFeedback))).all()
    assert [(f.field, f.ai_value, f.human_value, f.actor_user_id) for f in stored] == [
        (
            "category_id",
            str(org.categories["Performance"]),
            str(org.categories["Billing"]),
            org.agent.user.id,
        )
    ]
    assert scheduled == [(org.admin.org_id, 300)]


async def test_similar_tickets_come_from_pgvector_within_the_organization(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    from tests.support.factories import create_member

    text = "The export to CSV button does nothing. Clicking Export on the orders page fails."
    first = await create_ticket(client, org.agent, "CSV export broken", text)
    unrelated = await create_ticket(
        client,
        org.agent,
        "Question about our invoice",
        "Where can I download last year's VAT invoice?",
    )
    duplicate = await create_ticket(client, org.agent, "CSV export is broken", text)
    stranger = await create_member(session)
    await create_ticket(client, stranger, "CSV export broken", text)
    for ticket in (first, unrelated, duplicate):
        await _triage(session, ticket["id"])

    view = (await client.get(f"/v1/tickets/{duplicate['id']}/ai", headers=org.agent.headers)).json()
    similar = view["similar"]
    assert [s["ticket_id"] for s in similar] == [first["id"], unrelated["id"]]
    assert similar[0]["possible_duplicate"] is True
    assert similar[0]["similarity"] > 0.9
    assert similar[1]["possible_duplicate"] is False
    assert view["language"] == "en"
    assert view["summary"]


async def test_entities_title_and_summary_are_extracted(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    ticket = await create_ticket(
        client,
        org.agent,
        "bug",
        "Saving a draft fails with HTTP 500 at https://app.example.com/drafts/new. "
        "The console shows ERR_CONNECTION_RESET and a TypeError in the editor.\n"
        "    at saveDraft (https://app.example.com/static/editor.js:120:15)",
    )
    await _triage(session, ticket["id"])
    view = await client.get(f"/v1/tickets/T-{ticket['number']}/ai", headers=org.agent.headers)
    body = view.json()
    assert 500 in body["entities"]["http_statuses"]
    assert "https://app.example.com/drafts/new" in body["entities"]["urls"]
    assert body["entities"]["stack_frames"]
    assert body["suggested_title"]
    current = (await client.get(f"/v1/tickets/{ticket['id']}", headers=org.agent.headers)).json()
    assert current["title"] == body["suggested_title"]


async def test_another_organization_sees_nothing(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    from tests.support.factories import create_member

    ticket = await create_ticket(client, org.agent, "Refund please", "Refund my last payment.")
    await _triage(session, ticket["id"])
    suggestion = (
        await session.scalars(
            select(AISuggestion).where(AISuggestion.ticket_id == uuid.UUID(str(ticket["id"])))
        )
    ).first()
    outsider = await create_member(session)
    base = f"/v1/tickets/{ticket['id']}/ai"
    assert (await client.get(base, headers=outsider.headers)).status_code == 404
    assert (await client.post(f"{base}/triage", headers=outsider.headers)).status_code == 404
    suggestion_id = suggestion.id if suggestion else uuid.uuid4()
    accept = await client.post(
        f"{base}/suggestions/{suggestion_id}/accept", headers=outsider.headers
    )
    assert accept.status_code == 404


async def test_similar_tickets_follow_the_ticket_list_visibility(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """A reporter learns nothing about other people's tickets through the AI view: neither in
    ``similar`` nor in the stored analysis (``decisions[].output.similar``)."""
    from tests.support.factories import create_member
    from ticketcreator.accounts.permissions import Role

    reporter = await create_member(session, org.admin.organization, role=Role.REPORTER)
    viewer = await create_member(session, org.admin.organization, role=Role.VIEWER)
    text = "Payroll export to CSV crashes with error 0x80 when the salary column is empty."
    secret = await create_ticket(client, org.agent, "Payroll of Jane Roe: CSV export fails", text)
    own_earlier = await create_ticket(client, reporter, "Payroll CSV export crashes", text)
    own = await create_ticket(client, reporter, "Payroll CSV export is broken", text)
    for ticket in (secret, own_earlier, own):
        await _triage(session, ticket["id"])

    for_reporter = await client.get(f"/v1/tickets/{own['id']}/ai", headers=reporter.headers)
    assert for_reporter.status_code == 200
    body = for_reporter.json()
    assert [s["ticket_id"] for s in body["similar"]] == [own_earlier["id"]]
    stored = [d["output"]["similar"] for d in body["decisions"] if d["agent"] == "analysis"]
    assert stored
    assert all([s["ticket_id"] for s in similar] == [own_earlier["id"]] for similar in stored)
    assert secret["id"] not in for_reporter.text
    assert "Jane Roe" not in for_reporter.text

    # Viewers see every ticket of the organization (the permission table), so every neighbour.
    for_viewer = (await client.get(f"/v1/tickets/{own['id']}/ai", headers=viewer.headers)).json()
    assert {s["ticket_id"] for s in for_viewer["similar"]} == {secret["id"], own_earlier["id"]}
    analysis = next(d for d in for_viewer["decisions"] if d["agent"] == "analysis")
    assert {s["ticket_id"] for s in analysis["output"]["similar"]} == {
        secret["id"],
        own_earlier["id"],
    }
