"""The real worker triages new tickets, re-runs on request and trains organization models."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.polling import wait_for
from tests.support.services import Worker

from .conftest import Org, create_ticket


async def test_a_ticket_created_through_the_api_is_triaged_by_the_worker(
    client: httpx.AsyncClient, org: Org, celery_worker: Worker
) -> None:
    ticket = await create_ticket(
        client,
        org.agent,
        "Invoice charged twice",
        "We were billed twice for the annual subscription; please refund one payment.",
    )
    url = f"/v1/tickets/{ticket['id']}/ai"

    async def triaged() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(url, headers=org.agent.headers)).json()
        return body if body["decisions"] else None

    view = await wait_for(triaged)
    agents = {d["agent"] for d in view["decisions"]}
    assert agents == {"categorization", "priority", "summary", "analysis"}
    categorization = next(d for d in view["decisions"] if d["agent"] == "categorization")
    assert categorization["provider"] == "local"
    assert categorization["confidence"]["category"] > 0
    current = (await client.get(f"/v1/tickets/{ticket['id']}", headers=org.agent.headers)).json()
    assert current["category_id"] == str(org.categories["Billing"])

    queued = await client.post(f"{url}/triage", headers=org.agent.headers)
    assert queued.status_code == 202
    assert queued.json() == {"ticket_id": ticket["id"], "status": "queued"}

    async def rerun() -> bool:
        body = (await client.get(url, headers=org.agent.headers)).json()
        return len({d["run_id"] for d in body["decisions"]}) == 2

    await wait_for(rerun)


async def test_training_produces_a_versioned_model_with_metrics(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, celery_worker: Worker
) -> None:
    settings = await client.patch(
        "/v1/ai/config", headers=org.admin.headers, json={"triage": {"min_examples": 9}}
    )
    assert settings.status_code == 200
    texts = {
        "Billing": ["refund my payment", "invoice total is wrong", "card charged twice",
                    "subscription price changed", "VAT missing on invoice"],
        "Login": ["cannot sign in", "password reset email missing", "2FA code rejected",
                  "account locked after login attempts", "SSO redirect loop"],
        "Performance": ["dashboard loads slowly", "reports time out", "search is sluggish",
                        "API latency is high", "pages take 20 seconds"],
    }  # fmt: skip
    for name, titles in texts.items():
        for title in titles:
            await create_ticket(
                client,
                org.agent,
                title,
                f"{title}. Please help.",
                category_id=str(org.categories[name]),
            )
    forbidden = await client.post("/v1/ai/models/train", headers=org.agent.headers)
    assert forbidden.status_code == 403
    queued = await client.post("/v1/ai/models/train", headers=org.admin.headers)
    assert queued.status_code == 202
    assert queued.json()["organization_id"] == str(org.admin.org_id)

    async def trained() -> list[dict[str, Any]]:
        body = (await client.get("/v1/ai/models", headers=org.agent.headers)).json()
        items: list[dict[str, Any]] = body["items"]
        return items

    (model,) = await wait_for(trained)
    assert model["version"] == 1
    assert model["n_examples"] == 15
    assert "category" in model["tasks"]
    category = model["metrics"]["tasks"]["category"]
    assert set(category) == {"learned", "zero_shot"}
    assert model["active"] == model["metrics"]["better_than_zero_shot"]
    assert uuid.UUID(model["id"])
