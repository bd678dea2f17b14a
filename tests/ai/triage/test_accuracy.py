"""GET /v1/ai/accuracy: how agents treated the AI's values, and the active model's accuracy."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.ai.triage import feedback, service
from ticketcreator.ai.triage.models import OrganizationAIModel
from ticketcreator.core.db import commit
from ticketcreator.core.outbox import OutboxEvent, message_of

from .conftest import Org, create_ticket
from .test_bug_report_triage import QUICKSTART, QUICKSTART_TITLE


async def test_accuracy_counts_applied_changed_and_suggested_values(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_training(*_: object) -> bool:
        return False

    monkeypatch.setattr(feedback, "schedule_training", no_training)
    ticket = await create_ticket(client, org.agent, QUICKSTART_TITLE, QUICKSTART)
    await service.triage(session, uuid.UUID(str(ticket["id"])))
    await commit(session)
    # The agent disagrees with the AI's priority, and rejects one suggested tag.
    changed = await client.patch(
        f"/v1/tickets/{ticket['id']}", headers=org.agent.headers, json={"priority": "high"}
    )
    assert changed.status_code == 200, changed.text
    for event in (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == "ticket.updated")
            .order_by(OutboxEvent.created_at)
        )
    ).all():
        await feedback.record_feedback(session, message_of(event))
        await commit(session)
    view = (await client.get(f"/v1/tickets/{ticket['id']}/ai", headers=org.agent.headers)).json()
    tag = next(s for s in view["suggestions"] if s["field"] == "tags")
    rejected = await client.post(
        f"/v1/tickets/{ticket['id']}/ai/suggestions/{tag['id']}/reject", headers=org.agent.headers
    )
    assert rejected.status_code == 200

    response = await client.get("/v1/ai/accuracy", headers=org.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["days"] == 30
    assert body["model"] is None  # zero-shot: no active model yet
    fields = {row["field"]: row for row in body["fields"]}
    assert set(fields) == {"category_id", "priority", "type", "title", "tags"}
    assert (fields["priority"]["applied"], fields["priority"]["changed"]) == (1, 1)
    assert fields["priority"]["kept_rate"] == 0.0
    assert (fields["type"]["applied"], fields["type"]["changed"]) == (1, 0)
    assert fields["type"]["kept_rate"] == 1.0
    assert fields["title"] == {
        "field": "title",
        "applied": 0,
        "changed": 0,
        "kept_rate": None,
        "suggested": 0,
        "suggestions_accepted": 0,
        "suggestions_rejected": 0,
    }
    assert fields["tags"]["suggested"] >= 1
    assert fields["tags"]["suggestions_rejected"] == 1

    # Another organization sees only its own (empty) numbers; a reporter may not look.
    outsider = await create_member(session, role=Role.ADMIN)
    other = (await client.get("/v1/ai/accuracy", headers=outsider.headers)).json()
    assert all(row["applied"] == row["suggested"] == 0 for row in other["fields"])
    reporter = await create_member(session, org.admin.organization, role=Role.REPORTER)
    denied = await client.get("/v1/ai/accuracy", headers=reporter.headers)
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")


async def test_accuracy_shows_the_active_model_s_held_back_scores(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    scores = {"accuracy": 0.81, "macro_f1": 0.7, "n": 40}
    session.add(
        OrganizationAIModel(
            id=uuid.uuid4(),
            organization_id=org.admin.org_id,
            version=3,
            tasks=["priority"],
            blob=b"",
            metrics={"tasks": {"priority": {"learned": scores, "zero_shot": {"accuracy": 0.6}}}},
            active=True,
            n_examples=200,
        )
    )
    await session.commit()
    body = (await client.get("/v1/ai/accuracy", headers=org.admin.headers)).json()
    assert body["model"]["version"] == 3
    assert body["model"]["n_examples"] == 200
    assert body["model"]["held_back"] == {
        "priority": {"accuracy": 0.81, "macro_f1": 0.7, "zero_shot_accuracy": 0.6, "n": 40.0}
    }
