from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from ticketcreator.core.outbox import OutboxEvent


@pytest.mark.parametrize("collection", ["categories", "teams"])
async def test_named_collections_crud(
    client: httpx.AsyncClient, admin: Member, agent: Member, outsider: Member, collection: str
) -> None:
    base = f"/v1/{collection}"
    created = await client.post(
        base,
        json={"name": "Billing", "description": "Invoices and payments"},
        headers=admin.headers,
    )
    assert created.status_code == 201
    item = created.json()
    url = f"{base}/{item['id']}"
    taken = await client.post(base, json={"name": "billing"}, headers=admin.headers)
    assert taken.status_code == 409
    assert taken.json()["type"].endswith("/name-taken")
    assert (await client.post(base, json={"name": "X"}, headers=agent.headers)).status_code == 403
    other = (await client.post(base, json={"name": "Other"}, headers=admin.headers)).json()
    renamed = await client.patch(url, json={"name": "Payments"}, headers=admin.headers)
    assert renamed.json()["name"] == "Payments"
    assert renamed.json()["description"] == "Invoices and payments"
    clash = await client.patch(url, json={"name": "Other"}, headers=admin.headers)
    assert clash.status_code == 409
    described = await client.patch(url, json={"description": "Money"}, headers=admin.headers)
    assert described.json()["description"] == "Money"
    assert (await client.get(url, headers=agent.headers)).json()["name"] == "Payments"
    names = [c["name"] for c in (await client.get(base, headers=agent.headers)).json()]
    assert names == ["Other", "Payments"]
    assert (await client.get(url, headers=outsider.headers)).status_code == 404
    assert (await client.delete(url, headers=outsider.headers)).status_code == 404
    field = "category_id" if collection == "categories" else "team_id"
    ticket = await client.post(
        "/v1/tickets", json={"title": "x", field: item["id"]}, headers=agent.headers
    )
    assert ticket.status_code == 201
    in_use = await client.delete(url, headers=admin.headers)
    assert in_use.status_code == 409
    assert in_use.json()["tickets"] == 1
    assert (await client.delete(f"{base}/{other['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{base}/{other['id']}", headers=admin.headers)).status_code == 404


async def test_team_members(
    client: httpx.AsyncClient,
    admin: Member,
    agent: Member,
    reporter: Member,
    outsider: Member,
    session: AsyncSession,
) -> None:
    team = (await client.post("/v1/teams", json={"name": "Tier 1"}, headers=admin.headers)).json()
    url = f"/v1/teams/{team['id']}/members"
    added = await client.put(f"{url}/{agent.user.id}", headers=admin.headers)
    assert [m["user_id"] for m in added.json()] == [str(agent.user.id)]
    again = await client.put(f"{url}/{agent.user.id}", headers=admin.headers)
    assert len(again.json()) == 1
    for user in (reporter.user.id, outsider.user.id, uuid.uuid4()):
        refused = await client.put(f"{url}/{user}", headers=admin.headers)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/invalid-member")
    members = (await client.get(url, headers=agent.headers)).json()
    assert members[0]["email"] == agent.user.email
    assert (await client.delete(f"{url}/{agent.user.id}", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{url}/{agent.user.id}", headers=admin.headers)).status_code == 404
    topics = set(await session.scalars(select(OutboxEvent.topic)))
    assert {"team.created", "team.updated"} <= topics


async def test_custom_field_definitions_crud(
    client: httpx.AsyncClient, admin: Member, agent: Member, outsider: Member
) -> None:
    base = "/v1/custom-fields"
    created = await client.post(
        base,
        json={"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
        headers=admin.headers,
    )
    assert created.status_code == 201
    field = created.json()
    url = f"{base}/{field['id']}"
    duplicate = await client.post(
        base, json={"key": "plan", "label": "Plan", "type": "text"}, headers=admin.headers
    )
    assert duplicate.status_code == 409
    for invalid in (
        {"key": "a", "label": "A", "type": "select"},
        {"key": "b", "label": "B", "type": "text", "options": ["x"]},
        {"key": "c", "label": "C", "type": "select", "options": ["x", "x"]},
    ):
        response = await client.post(base, json=invalid, headers=admin.headers)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/invalid-field-definition")
    bad_key = await client.post(
        base, json={"key": "Bad Key", "label": "x", "type": "text"}, headers=admin.headers
    )
    assert bad_key.status_code == 422
    updated = await client.patch(
        url,
        json={"options": ["free", "pro", "enterprise"], "required": True},
        headers=admin.headers,
    )
    assert updated.json()["options"] == ["free", "pro", "enterprise"]
    assert updated.json()["required"] is True
    no_options = await client.patch(url, json={"options": []}, headers=admin.headers)
    assert no_options.status_code == 422
    assert (await client.get(url, headers=agent.headers)).json()["key"] == "plan"
    assert [f["key"] for f in (await client.get(base, headers=agent.headers)).json()] == ["plan"]
    assert (await client.get(url, headers=outsider.headers)).status_code == 404
    assert (await client.patch(url, json={"label": "x"}, headers=agent.headers)).status_code == 403
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.delete(url, headers=admin.headers)).status_code == 404


async def test_tags(
    client: httpx.AsyncClient, admin: Member, agent: Member, outsider: Member
) -> None:
    created = await client.post("/v1/tags", json={"name": " Mobile "}, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["name"] == "mobile"
    same = await client.post("/v1/tags", json={"name": "MOBILE"}, headers=admin.headers)
    assert same.json()["id"] == created.json()["id"]
    assert (
        await client.post("/v1/tags", json={"name": "a b"}, headers=admin.headers)
    ).status_code == 422
    ticket = (
        await client.post(
            "/v1/tickets", json={"title": "x", "tags": ["mobile"]}, headers=agent.headers
        )
    ).json()
    assert (await client.get("/v1/tags", headers=outsider.headers)).json() == []
    tag_url = f"/v1/tags/{created.json()['id']}"
    assert (await client.delete(tag_url, headers=outsider.headers)).status_code == 404
    assert (await client.delete(tag_url, headers=admin.headers)).status_code == 204
    after = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert after["tags"] == []
    assert after["version"] == 2
    timeline = (
        await client.get(f"/v1/tickets/{ticket['id']}/timeline", headers=agent.headers)
    ).json()
    assert timeline["items"][-1]["event"]["kind"] == "untagged"


async def _updates(session: AsyncSession, ticket_id: str) -> list[dict[str, object]]:
    rows = await session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.topic == "ticket.updated")
        .where(OutboxEvent.payload["ticket_id"].astext == ticket_id)
        .order_by(OutboxEvent.created_at)
    )
    payloads = list(rows)
    await session.commit()
    return payloads


async def test_deleting_a_tag_or_a_field_announces_each_ticket_it_changed(
    client: httpx.AsyncClient, admin: Member, agent: Member, session: AsyncSession
) -> None:
    """Every ticket that loses a tag or a field value gets its ``ticket.updated`` (what the
    integrations, routing, the stream and AI feedback listen to), like any other change."""
    await client.post(
        "/v1/custom-fields",
        json={"key": "plan", "label": "Plan", "type": "text"},
        headers=admin.headers,
    )
    tagged = await client.post(
        "/v1/tickets",
        json={
            "title": "Crash on save",
            "tags": ["mobile", "ios"],
            "custom_fields": {"plan": "pro"},
        },
        headers=agent.headers,
    )
    ticket = tagged.json()
    untouched = await client.post("/v1/tickets", json={"title": "Other"}, headers=agent.headers)
    tags = (await client.get("/v1/tags", headers=agent.headers)).json()
    mobile = next(tag for tag in tags if tag["name"] == "mobile")
    assert (
        await client.delete(f"/v1/tags/{mobile['id']}", headers=admin.headers)
    ).status_code == 204
    fields = (await client.get("/v1/custom-fields", headers=agent.headers)).json()
    deleted = await client.delete(f"/v1/custom-fields/{fields[0]['id']}", headers=admin.headers)
    assert deleted.status_code == 204

    after = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert after["tags"] == ["ios"]
    assert after["custom_fields"] == {}
    updates = await _updates(session, ticket["id"])
    assert [(u["changes"], u["version"]) for u in updates] == [
        ([{"field": "tags", "old": "mobile", "new": None}], ticket["version"] + 1),
        ([{"field": "custom_fields.plan", "old": "pro", "new": None}], ticket["version"] + 2),
    ]
    assert {u["actor_user_id"] for u in updates} == {str(admin.user.id)}
    assert after["version"] == ticket["version"] + 2
    assert await _updates(session, untouched.json()["id"]) == []


@pytest.mark.parametrize("collection", ["categories", "teams"])
async def test_a_category_or_team_with_tickets_is_not_deleted(
    client: httpx.AsyncClient, admin: Member, agent: Member, collection: str
) -> None:
    item = (
        await client.post(f"/v1/{collection}", json={"name": "Billing"}, headers=admin.headers)
    ).json()
    field = "category_id" if collection == "categories" else "team_id"
    ticket = (
        await client.post(
            "/v1/tickets", json={"title": "Refund", field: item["id"]}, headers=agent.headers
        )
    ).json()
    refused = await client.delete(f"/v1/{collection}/{item['id']}", headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/in-use")
    assert refused.json()["tickets"] == 1
    moved = await client.patch(
        f"/v1/tickets/{ticket['id']}",
        json={field: None},
        headers={**agent.headers, "If-Match": f'"{ticket["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    deleted = await client.delete(f"/v1/{collection}/{item['id']}", headers=admin.headers)
    assert deleted.status_code == 204
