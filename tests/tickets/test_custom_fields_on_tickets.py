from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.tickets.models import TicketEvent


async def _define(client: httpx.AsyncClient, admin: Member, **field: object) -> str:
    response = await client.post("/v1/custom-fields", json=field, headers=admin.headers)
    assert response.status_code == 201, response.text
    field_id: str = response.json()["id"]
    return field_id


async def _define_browser(client: httpx.AsyncClient, admin: Member) -> None:
    """A required select field, ``browser``: chrome or firefox."""
    await _define(
        client,
        admin,
        key="browser",
        label="Browser",
        type="select",
        options=["chrome", "firefox"],
        required=True,
    )


async def test_values_are_validated_against_the_definitions(
    client: httpx.AsyncClient, admin: Member, agent: Member, session: AsyncSession
) -> None:
    await _define_browser(client, admin)
    await _define(client, admin, key="seats", label="Seats", type="number")
    await _define(client, admin, key="vip", label="VIP", type="boolean")
    await _define(client, admin, key="since", label="Since", type="date")
    notes = await _define(client, admin, key="notes", label="Notes", type="text")
    missing = await client.post("/v1/tickets", json={"title": "x"}, headers=agent.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "browser", "message": "is required"}]
    wrong = await client.post(
        "/v1/tickets",
        json={
            "title": "x",
            "custom_fields": {
                "browser": "ie",
                "seats": "3",
                "vip": 1,
                "since": "yesterday",
                "nope": 1,
                "notes": 5,
            },
        },
        headers=agent.headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["type"].endswith("/invalid-custom-fields")
    assert {e["field"] for e in wrong.json()["errors"]} == {
        "browser",
        "seats",
        "vip",
        "since",
        "nope",
        "notes",
    }
    ticket = await new_ticket(
        client,
        agent,
        custom_fields={
            "browser": "chrome",
            "seats": 3,
            "vip": True,
            "since": "2024-02-01",
            "notes": "hi",
        },
    )
    url = f"/v1/tickets/{ticket['id']}"
    cleared = await client.patch(
        url, json={"custom_fields": {"browser": None}}, headers=agent.headers
    )
    assert cleared.status_code == 422
    merged = await client.patch(
        url, json={"custom_fields": {"seats": 5, "vip": None}}, headers=agent.headers
    )
    assert merged.json()["custom_fields"] == {
        "browser": "chrome",
        "seats": 5,
        "since": "2024-02-01",
        "notes": "hi",
    }
    assert (
        await client.delete(f"/v1/custom-fields/{notes}", headers=admin.headers)
    ).status_code == 204
    after = (await client.get(url, headers=agent.headers)).json()
    assert "notes" not in after["custom_fields"]
    assert after["version"] == merged.json()["version"] + 1
    fields = (await session.scalars(select(TicketEvent.field))).all()
    assert "custom_fields.notes" in fields
    assert "custom_fields.seats" in fields


async def test_a_create_with_an_idempotency_key_checks_the_same_definitions(
    client: httpx.AsyncClient, admin: Member, agent: Member
) -> None:
    """The key's look-up reads the definitions along with it: a create with a key is checked
    as one without, and its retry gets the first response back."""
    await _define_browser(client, admin)
    await _define(client, admin, key="seats", label="Seats", type="number")
    headers = {**agent.headers, "Idempotency-Key": "create-with-fields-1"}
    missing = await client.post("/v1/tickets", json={"title": "x"}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "browser", "message": "is required"}]
    wrong = await client.post(
        "/v1/tickets",
        json={"title": "x", "custom_fields": {"browser": "ie", "seats": 2}},
        headers={**agent.headers, "Idempotency-Key": "create-with-fields-2"},
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"browser"}
    body = {"title": "x", "custom_fields": {"browser": "firefox", "seats": 2}}
    created = await client.post("/v1/tickets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["custom_fields"] == {"browser": "firefox", "seats": 2}
    again = await client.post("/v1/tickets", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == created.json()
