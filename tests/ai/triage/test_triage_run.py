"""One triage run: vendors are asked with no database transaction open, and the fields are
applied as one change of the ticket (one version, one ``ticket.updated``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
import respx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ticketcreator.ai.triage import service
from ticketcreator.ai.triage.models import AIDecision, AISuggestion
from ticketcreator.core.ai_config import get_ai_config
from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import Ticket

from .conftest import Org, create_ticket

OPENAI = "https://openai.test/v1"
CHECKOUT = (
    "Checkout button does nothing",
    "Clicking Pay shows a spinner forever. Console: Uncaught (in promise) TypeError: Cannot "
    "read properties of undefined (reading 'total') at checkout.js:212. POST /api/payments "
    "returned 500. All customers are affected since the deploy, nobody can buy anything.",
)


@pytest.fixture
def openai_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_ENABLED", "true")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghijklmnop")
    monkeypatch.setenv("OPENAI_BASE_URL", OPENAI)
    get_ai_config.cache_clear()
    yield
    get_ai_config.cache_clear()


async def _updates(session: AsyncSession, ticket_id: uuid.UUID) -> list[OutboxEvent]:
    events = await session.scalars(
        select(OutboxEvent).where(
            OutboxEvent.topic == "ticket.updated",
            OutboxEvent.payload["ticket_id"].astext == str(ticket_id),
        )
    )
    return list(events.all())


async def test_fields_and_tags_are_applied_as_one_change(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    session.add(Tag(id=uuid.uuid4(), organization_id=org.admin.org_id, name="checkout"))
    await session.commit()
    created = await create_ticket(client, org.agent, *CHECKOUT)
    ticket_id = uuid.UUID(str(created["id"]))
    before = await session.get(Ticket, ticket_id)
    assert before is not None
    version = before.version

    assert await service.triage(session, ticket_id) is not None
    await commit(session)

    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None
    assert ticket.version == version + 1
    [update] = await _updates(session, ticket_id)
    assert update.payload["actor_kind"] == "ai"
    assert update.payload["version"] == version + 1
    fields = {change["field"] for change in update.payload["changes"]}
    assert {"category_id", "priority", "type", "tags"} <= fields


async def _open_transactions(ticket_id: uuid.UUID) -> list[str]:
    """Other connections of this database inside a transaction (the ticket's row must also be
    free to lock at once)."""
    async with session_factory()() as probe:
        rows = await probe.execute(
            text(
                "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND xact_start IS NOT NULL"
            )
        )
        found = [f"{row.state}: {row.query}" for row in rows]
        await probe.execute(
            select(Ticket.id).where(Ticket.id == ticket_id).with_for_update(nowait=True)
        )
        await probe.rollback()
    return found


def _cloud_categorization(during: Callable[[], Awaitable[None]]) -> None:
    """OpenAI answers the categorization agent (Billing, incident, tag ``checkout``), running
    ``during`` while the request is in flight."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await during()
        content = {
            "category": "Billing",
            "category_confidence": 0.95,
            "type": "incident",
            "type_confidence": 0.9,
            "tags": [{"name": "checkout", "confidence": 0.9}],
        }
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps(content)},
                    }
                ],
                "usage": {"prompt_tokens": 400, "completion_tokens": 60},
            },
        )

    respx.post(f"{OPENAI}/chat/completions").mock(side_effect=answer)


async def _categorization_in_the_cloud(client: httpx.AsyncClient, org: Org) -> uuid.UUID:
    response = await client.patch(
        "/v1/ai/config",
        headers=org.admin.headers,
        json={"agents": {"categorization": {"model_provider": "openai", "model_name": "fast"}}},
    )
    assert response.status_code == 200, response.text
    created = await create_ticket(client, org.agent, *CHECKOUT)
    return uuid.UUID(str(created["id"]))


async def _triage_in_a_worker_session(ticket_id: uuid.UUID) -> uuid.UUID | None:
    async with session_factory()() as worker:
        run_id = await service.triage(worker, ticket_id)
        await commit(worker)
    return run_id


@respx.mock
async def test_no_transaction_is_open_while_a_cloud_provider_answers(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    ticket_id = await _categorization_in_the_cloud(client, org)
    seen: list[list[str]] = []

    async def look() -> None:
        seen.append(await _open_transactions(ticket_id))

    _cloud_categorization(look)
    assert await _triage_in_a_worker_session(ticket_id) is not None

    assert seen == [[]]
    ticket = await session.get(
        Ticket, ticket_id, populate_existing=True, options=[selectinload(Ticket.tags)]
    )
    assert ticket is not None
    assert ticket.category_id == org.categories["Billing"]
    assert "checkout" in ticket.tag_names


@respx.mock
async def test_a_field_a_person_sets_during_the_run_is_kept(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    ticket_id = await _categorization_in_the_cloud(client, org)

    async def person_sets_the_type() -> None:
        changed = await client.patch(
            f"/v1/tickets/{ticket_id}", headers=org.agent.headers, json={"type": "question"}
        )
        assert changed.status_code == 200, changed.text

    _cloud_categorization(person_sets_the_type)
    assert await _triage_in_a_worker_session(ticket_id) is not None

    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None
    assert ticket.type.value == "question"
    assert ticket.category_id == org.categories["Billing"]
    suggested = await session.scalars(
        select(AISuggestion).where(
            AISuggestion.ticket_id == ticket_id, AISuggestion.field == "type"
        )
    )
    assert [suggestion.value for suggestion in suggested.all()] == ["incident"]


@respx.mock
async def test_a_ticket_deleted_during_the_run_is_left_alone(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, openai_enabled: None
) -> None:
    ticket_id = await _categorization_in_the_cloud(client, org)

    async def person_deletes_it() -> None:
        deleted = await client.delete(f"/v1/tickets/{ticket_id}", headers=org.agent.headers)
        assert deleted.status_code == 204, deleted.text

    _cloud_categorization(person_deletes_it)
    assert await _triage_in_a_worker_session(ticket_id) is None

    decisions = await session.scalars(select(AIDecision).where(AIDecision.ticket_id == ticket_id))
    assert decisions.all() == []
    assert await _updates(session, ticket_id) == []
