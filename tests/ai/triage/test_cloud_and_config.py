"""The cloud path (a respx fake speaking OpenAI's API) and the run-time configuration API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import AuditEntry
from ticketcreator.ai.triage import service
from ticketcreator.ai.triage.models import AIDecision, AISpend
from ticketcreator.core.ai_config import get_ai_config
from ticketcreator.core.db import commit

from .conftest import Org, create_ticket

SECRET = "sk-test-0123456789abcdefghijklmnop"
OPENAI = "https://openai.test/v1"


@pytest.fixture
def openai_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_ENABLED", "true")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", OPENAI)
    get_ai_config.cache_clear()
    yield
    get_ai_config.cache_clear()


def _completion(content: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content, "refusal": None},
                }
            ],
            "usage": {"prompt_tokens": 400, "completion_tokens": 60},
        },
    )


async def _route_categorization_to_openai(client: httpx.AsyncClient, org: Org) -> None:
    response = await client.patch(
        "/v1/ai/config",
        headers=org.admin.headers,
        json={"agents": {"categorization": {"model_provider": "openai", "model_name": "fast"}}},
    )
    assert response.status_code == 200, response.text


async def _categorization(session: AsyncSession, ticket_id: object) -> AIDecision:
    await service.triage(session, uuid.UUID(str(ticket_id)))
    await commit(session)
    decision = (
        await session.scalars(
            select(AIDecision).where(
                AIDecision.ticket_id == uuid.UUID(str(ticket_id)),
                AIDecision.agent == "categorization",
            )
        )
    ).one()
    return decision


@respx.mock
async def test_cloud_provider_answers_with_redacted_text_and_its_cost_is_recorded(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    await _route_categorization_to_openai(client, org)
    answer = {
        "category": "Login",
        "category_confidence": 0.95,
        "type": "bug",
        "type_confidence": 0.9,
        "tags": [{"name": "sso", "confidence": 0.9}],
    }
    route = respx.post(f"{OPENAI}/chat/completions").mock(
        return_value=_completion(json.dumps(answer))
    )
    ticket = await create_ticket(
        client,
        org.agent,
        "SSO login loops",
        "Signing in with SSO as jane.doe@example.com redirects back to the login page.",
    )
    decision = await _categorization(session, ticket["id"])

    assert route.called
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"
    assert "jane.doe@example.com" not in sent.content.decode()
    assert decision.provider == "openai"
    assert decision.model_version == "gpt-4o-mini-2024-07-18"
    assert decision.cost > 0
    assert decision.record["redactions"] == {"EMAIL": 1}
    assert decision.applied_fields["category_id"] == str(org.categories["Login"])
    spend = (await session.scalars(select(AISpend))).all()
    assert [(s.provider, s.ticket_id) for s in spend] == [("openai", decision.ticket_id)]


@respx.mock
async def test_invalid_cloud_output_falls_back_to_local(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    await _route_categorization_to_openai(client, org)
    respx.post(f"{OPENAI}/chat/completions").mock(
        return_value=_completion(json.dumps({"category": "Not one of ours"}))
    )
    ticket = await create_ticket(client, org.agent, "Refund", "Please refund my invoice payment.")
    decision = await _categorization(session, ticket["id"])

    outcomes = [(a["provider"], a["outcome"]) for a in decision.record["attempts"]]
    assert outcomes == [("openai", "invalid_output"), ("local", "ok")]
    assert decision.provider == "local"


@respx.mock
async def test_over_budget_goes_local_and_the_decision_says_why(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    await _route_categorization_to_openai(client, org)
    route = respx.post(f"{OPENAI}/chat/completions").mock(return_value=_completion("{}"))
    session.add(
        AISpend(
            organization_id=org.admin.org_id,
            provider="openai",
            model="gpt-4o-mini",
            cost=50.0,
            at=datetime.now(UTC),
        )
    )
    await session.commit()
    ticket = await create_ticket(client, org.agent, "Slow", "The app is very slow today.")
    decision = await _categorization(session, ticket["id"])

    assert not route.called
    first, second = decision.record["attempts"]
    assert (first["provider"], first["outcome"]) == ("openai", "over_budget")
    assert "daily_cost_limit" in first["error"]
    assert (second["provider"], second["outcome"]) == ("local", "ok")


async def test_config_read_masks_every_secret(
    client: httpx.AsyncClient, org: Org, openai_enabled: None
) -> None:
    response = await client.get("/v1/ai/config", headers=org.admin.headers)
    assert response.status_code == 200
    assert SECRET not in response.text
    config = response.json()["config"]
    assert config["ai_providers"]["openai"]["api_key"] == "********"
    assert config["ai_providers"]["local"]["api_key"] is None
    assert "categorization_agent" in config
    forbidden = await client.get("/v1/ai/config", headers=org.agent.headers)
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            {"agents": {"categorization": {"confidence_threshold": 2}}},
            "categorization_agent.confidence_threshold",
        ),
        (
            {"agents": {"priority": {"system_prompt_template": "missing"}}},
            "priority_agent.system_prompt_template",
        ),
        ({"agents": {"summary": {"colour": "blue"}}}, "summary_agent.colour"),
        ({"triage": {"duplicate_threshold": 3}}, "triage.duplicate_threshold"),
    ],
)
async def test_config_patch_errors_name_the_key(
    client: httpx.AsyncClient, org: Org, body: dict[str, object], key: str
) -> None:
    response = await client.patch("/v1/ai/config", headers=org.admin.headers, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-ai-config")
    assert key in [error["key"] for error in problem["errors"]]


async def test_config_patch_is_stored_per_organization_and_audited(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    from tests.support.factories import create_member
    from ticketcreator.accounts.permissions import Role

    response = await client.patch(
        "/v1/ai/config",
        headers=org.admin.headers,
        json={
            "prompt_templates": {"categorization_default": "Pick a category: {categories}"},
            "agents": {"categorization": {"confidence_threshold": 0.7}},
            "triage": {"duplicate_threshold": 0.95},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"]["categorization_agent"]["confidence_threshold"] == 0.7
    assert body["config"]["prompt_templates"]["categorization_default"].startswith("Pick")
    assert body["triage"]["duplicate_threshold"] == 0.95

    other = await create_member(session, role=Role.ADMIN)
    theirs = (await client.get("/v1/ai/config", headers=other.headers)).json()
    assert theirs["config"]["categorization_agent"]["confidence_threshold"] == 0.5
    assert theirs["overrides"] == {}

    reverted = await client.patch(
        "/v1/ai/config",
        headers=org.admin.headers,
        json={
            "agents": {"categorization": None},
            "prompt_templates": {"categorization_default": None},
        },
    )
    assert reverted.json()["overrides"] == {"triage": {"duplicate_threshold": 0.95}}
    entries = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "ai_config_updated"))
    ).all()
    assert len(entries) == 2
    assert entries[0].actor_user_id == org.admin.user.id
