"""The timeline says what kind of actor made each change: a user, an API key, the AI, the system.

The AI's own changes are checked in tests/ai/triage/test_triage_service.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.accounts.models import ApiKey
from ticketcreator.core.db import commit
from ticketcreator.core.outbox import OutboxEvent


async def _events(client: httpx.AsyncClient, member: Member, ticket_id: str) -> list[Any]:
    response = await client.get(f"/v1/tickets/{ticket_id}/timeline", headers=member.headers)
    assert response.status_code == 200, response.text
    return [item["event"] for item in response.json()["items"] if item["type"] == "event"]


async def test_timeline_and_outbox_tell_a_user_from_an_api_key(
    client: httpx.AsyncClient, agent: Member, admin: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    created = await client.post(
        "/v1/api-keys",
        json={"name": "sync", "scopes": ["tickets:read", "tickets:write"]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    patched = await client.patch(
        f"/v1/tickets/{ticket['id']}", json={"priority": "high"}, headers={"X-API-Key": key["key"]}
    )
    assert patched.status_code == 200, patched.text

    events = await _events(client, agent, ticket["id"])
    assert [(e["kind"], e["actor_kind"]) for e in events] == [
        ("created", "user"),
        ("updated", "api_key"),
    ]
    assert events[0]["actor_user_id"] == str(agent.user.id)
    # An API key also carries the user who created it; its kind is still `api_key`.
    assert events[1]["actor_api_key_id"] == key["id"]
    assert events[1]["actor_user_id"] == str(admin.user.id)
    payloads = {
        row.topic: row.payload for row in (await session.scalars(select(OutboxEvent))).all()
    }
    assert payloads["ticket.created"]["actor_kind"] == "user"
    assert payloads["ticket.updated"]["actor_kind"] == "api_key"

    await session.execute(delete(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])))
    await commit(session)
    changed = (await _events(client, agent, ticket["id"]))[1]
    assert changed["actor_api_key_id"] is None
    assert changed["actor_kind"] == "api_key"


async def test_bulk_and_capture_events_record_their_actor_kind(
    client: httpx.AsyncClient, agent: Member, admin: Member
) -> None:
    """Writers outside the tickets service (tag deletion's bulk insert) set the kind too."""
    ticket = await new_ticket(client, agent, tags=["mobile"])
    tag_id = (await client.get("/v1/tags", headers=admin.headers)).json()[0]["id"]
    assert (await client.delete(f"/v1/tags/{tag_id}", headers=admin.headers)).status_code == 204

    events = await _events(client, agent, ticket["id"])
    assert [(e["kind"], e["actor_kind"]) for e in events] == [
        ("created", "user"),
        ("untagged", "user"),
    ]
