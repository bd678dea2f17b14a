"""Training in-process: versions, held-back metrics, the learned model in triage, debouncing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.ai.triage import feedback, service, training
from ticketcreator.ai.triage.models import AIDecision, OrganizationAIModel
from ticketcreator.core.db import commit
from ticketcreator.core.events import Topic
from ticketcreator.core.outbox import OutboxEvent

from .conftest import Org, create_ticket

TITLES = {
    "Billing": ["refund my payment", "invoice total is wrong", "card charged twice",
                "subscription price changed", "VAT missing on invoice", "double billing"],
    "Login": ["cannot sign in", "password reset email missing", "2FA code rejected",
              "account locked after login attempts", "SSO redirect loop", "login fails"],
    "Performance": ["dashboard loads slowly", "reports time out", "search is sluggish",
                    "API latency is high", "pages take 20 seconds", "app is slow"],
}  # fmt: skip


async def test_training_versions_evaluates_and_serves_the_learned_model(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    patched = await client.patch(
        "/v1/ai/config",
        headers=org.admin.headers,
        json={"triage": {"min_examples": 12, "min_new_labels": 5}},
    )
    assert patched.status_code == 200
    for name, titles in TITLES.items():
        for title in titles:
            await create_ticket(
                client, org.agent, title, f"{title}.", category_id=str(org.categories[name])
            )
    assert await training.train_due(session) != []
    await commit(session)
    first = (await session.scalars(select(OrganizationAIModel))).one()
    assert first.version == 1
    assert first.n_examples == 18
    assert first.metrics["n_held_back"] == 4
    assert "category" in first.metrics["tasks"]
    assert await training.train(session, org.admin.org_id) is None  # nothing new
    forced = await training.train(session, org.admin.org_id, force=True)
    assert forced is not None
    assert forced.version == 2
    await commit(session)

    # Serve version 2 whatever its verdict, to check triage uses a stored model.
    for model in (await session.scalars(select(OrganizationAIModel))).all():
        model.active = model.version == 2
    await session.commit()
    ticket = await create_ticket(client, org.agent, "Charged twice", "My card was charged twice.")
    await service.triage(session, uuid.UUID(str(ticket["id"])))
    await commit(session)
    decision = (
        await session.scalars(
            select(AIDecision).where(
                AIDecision.ticket_id == uuid.UUID(str(ticket["id"])),
                AIDecision.agent == "categorization",
            )
        )
    ).one()
    assert decision.model_version == "learned-v2"
    assert decision.output["category"] == "Billing"

    models = (await client.get("/v1/ai/models", headers=org.agent.headers)).json()["items"]
    assert [(m["version"], m["active"]) for m in models] == [(2, True), (1, first.active)]


async def test_label_changes_announce_one_training_per_window(
    session: AsyncSession, org: Org
) -> None:
    assert await feedback.schedule_training(session, org.admin.org_id, 60) is True
    assert await feedback.schedule_training(session, org.admin.org_id, 60) is False
    await commit(session)
    due = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == Topic.AI_TRAINING_DUE))
    ).all()
    assert [event.payload for event in due] == [
        {"organization_id": str(org.admin.org_id), "force": False}
    ]
    assert due[0].deliver_at is not None
    assert (due[0].deliver_at - due[0].created_at).total_seconds() == 60


async def test_retriage_of_a_missing_ticket_does_nothing(session: AsyncSession) -> None:
    assert await service.triage(session, uuid.uuid4()) is None
