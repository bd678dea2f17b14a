"""Role rules and tenant isolation on every ticket route."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.tickets.models import TicketEvent


async def test_reporters_see_and_comment_on_their_own_tickets_only(
    client: httpx.AsyncClient, agent: Member, reporter: Member
) -> None:
    mine = await new_ticket(client, reporter, title="My laptop")
    theirs = await new_ticket(client, agent, title="Someone else's")
    listed = (await client.get("/v1/tickets", headers=reporter.headers)).json()
    assert [t["id"] for t in listed["items"]] == [mine["id"]]
    for ref in (mine["id"], mine["key"]):
        own = await client.get(f"/v1/tickets/{ref}", headers=reporter.headers)
        assert own.json() == mine
    assert (
        await client.get(f"/v1/tickets/{theirs['key']}", headers=reporter.headers)
    ).status_code == 404
    assert (
        await client.get(f"/v1/tickets/{theirs['id']}", headers=reporter.headers)
    ).status_code == 404
    refused = await client.post(
        f"/v1/tickets/{theirs['id']}/comments", json={"body": "hi"}, headers=reporter.headers
    )
    assert refused.status_code == 404
    ok = await client.post(
        f"/v1/tickets/{mine['id']}/comments",
        json={"body": "More details"},
        headers=reporter.headers,
    )
    assert ok.status_code == 201
    internal = await client.post(
        f"/v1/tickets/{mine['id']}/comments",
        json={"body": "x", "internal": True},
        headers=reporter.headers,
    )
    assert internal.status_code == 403


async def test_reporters_never_see_internal_comments(
    client: httpx.AsyncClient, agent: Member, reporter: Member
) -> None:
    ticket = await new_ticket(client, reporter)
    base = f"/v1/tickets/{ticket['id']}"
    note = await client.post(
        f"{base}/comments",
        json={"body": "Customer is on the old plan", "internal": True},
        headers=agent.headers,
    )
    await client.post(f"{base}/comments", json={"body": "We are on it"}, headers=agent.headers)
    comments = (await client.get(f"{base}/comments", headers=reporter.headers)).json()["items"]
    assert [c["body"] for c in comments] == ["We are on it"]
    timeline = (await client.get(f"{base}/timeline", headers=reporter.headers)).json()["items"]
    assert all(not (i["type"] == "comment" and i["comment"]["internal"]) for i in timeline)
    await client.patch(
        f"{base}/comments/{note.json()['id']}", json={"body": "edited"}, headers=agent.headers
    )
    timeline = (await client.get(f"{base}/timeline", headers=reporter.headers)).json()["items"]
    assert all(i["type"] != "event" or i["event"]["kind"] == "created" for i in timeline)
    hidden = await client.delete(f"{base}/comments/{note.json()['id']}", headers=reporter.headers)
    assert hidden.status_code == 404
    searched = (
        await client.get("/v1/tickets", params={"q": "old plan"}, headers=reporter.headers)
    ).json()
    assert searched["items"] == []


async def test_reporters_watch_their_own_tickets_themselves(
    client: httpx.AsyncClient, agent: Member, reporter: Member
) -> None:
    ticket = await new_ticket(client, reporter)
    url = f"/v1/tickets/{ticket['id']}/watchers"
    assert (
        await client.put(f"{url}/{reporter.user.id}", headers=reporter.headers)
    ).status_code == 200
    assert (await client.put(f"{url}/{agent.user.id}", headers=reporter.headers)).status_code == 403


async def test_viewers_read_but_cannot_write(
    client: httpx.AsyncClient, agent: Member, viewer: Member
) -> None:
    ticket = await new_ticket(client, agent)
    base = f"/v1/tickets/{ticket['id']}"
    assert (await client.get(base, headers=viewer.headers)).status_code == 200
    assert (await client.get("/v1/tickets", headers=viewer.headers)).status_code == 200
    writes = [
        client.post("/v1/tickets", json={"title": "x"}, headers=viewer.headers),
        client.patch(base, json={"title": "x"}, headers=viewer.headers),
        client.delete(base, headers=viewer.headers),
        client.post(f"{base}/comments", json={"body": "x"}, headers=viewer.headers),
        client.post(f"{base}/tags", json={"tags": ["x"]}, headers=viewer.headers),
        client.put(f"{base}/watchers/{viewer.user.id}", headers=viewer.headers),
        client.post(
            "/v1/tickets/bulk", json={"tickets": ["1"], "changes": {}}, headers=viewer.headers
        ),
        client.get("/v1/tickets?deleted=true", headers=viewer.headers),
    ]
    for request in writes:
        response = await request
        assert response.status_code == 403, response.request.url
        assert response.json()["type"].endswith("/forbidden")
        assert response.headers["ratelimit-limit"]  # refused, the request still counted


async def test_reporters_cannot_triage_on_create(
    client: httpx.AsyncClient, agent: Member, reporter: Member
) -> None:
    response = await client.post(
        "/v1/tickets",
        json={"title": "x", "assignee_id": str(agent.user.id)},
        headers=reporter.headers,
    )
    assert response.status_code == 403


def _ticket_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/v1/tickets/{ticket_ref}")
        for method in route.methods
    )


_BODIES = {
    ("PATCH", "/v1/tickets/{ticket_ref}"): {"title": "x"},
    ("PUT", "/v1/tickets/{ticket_ref}/assignee"): {"assignee_id": str(uuid.uuid4())},
    ("POST", "/v1/tickets/{ticket_ref}/tags"): {"tags": ["x"]},
    ("POST", "/v1/tickets/{ticket_ref}/comments"): {"body": "x"},
    ("PATCH", "/v1/tickets/{ticket_ref}/comments/{comment_id}"): {"body": "x"},
    ("POST", "/v1/tickets/{ticket_ref}/links"): {
        "provider": "jira",
        "external_id": "X-1",
        "url": "https://x",
    },
}


async def test_another_organizations_ticket_is_404_on_every_ticket_route(
    app: FastAPI, client: httpx.AsyncClient, agent: Member, outsider: Member
) -> None:
    ticket = await new_ticket(client, agent)
    comment = (
        await client.post(
            f"/v1/tickets/{ticket['id']}/comments", json={"body": "x"}, headers=agent.headers
        )
    ).json()
    routes = _ticket_routes(app)
    assert len(routes) >= 18
    for method, path in routes:
        url = (
            path.replace("{ticket_ref}", ticket["id"])
            .replace("{comment_id}", comment["id"])
            .replace("{user_id}", str(outsider.user.id))
            .replace("{link_id}", str(uuid.uuid4()))
            .replace("{tag_name}", "x")
            .replace("{suggestion_id}", str(uuid.uuid4()))
        )
        for ref in (ticket["id"], "T-1"):
            response = await client.request(
                method,
                url.replace(ticket["id"], ref),
                json=_BODIES.get((method, path)),
                headers=outsider.headers,
            )
            assert response.status_code == 404, (method, path, ref, response.text)
    bulk = await client.post(
        "/v1/tickets/bulk",
        json={"tickets": [ticket["id"]], "changes": {"priority": "low"}},
        headers=outsider.headers,
    )
    assert bulk.status_code == 422
    assert bulk.json()["errors"][0]["status"] == 404
    listed = (await client.get("/v1/tickets", headers=outsider.headers)).json()
    assert listed["items"] == []


@pytest.mark.parametrize("path", ["/v1/tickets", "/v1/tickets/T-1"])
async def test_anonymous_callers_are_401(
    client: httpx.AsyncClient, path: str, database: str
) -> None:
    assert (await client.get(path)).status_code == 401


async def test_a_deleted_comment_leaves_no_text_in_the_timeline(
    client: httpx.AsyncClient,
    session: AsyncSession,
    agent: Member,
    reporter: Member,
    viewer: Member,
) -> None:
    ticket = await new_ticket(client, reporter)
    base = f"/v1/tickets/{ticket['id']}"
    for internal in (False, True):
        comment = await client.post(
            f"{base}/comments",
            json={"body": "Card 4111 1111 1111 1111 of Jane Roe", "internal": internal},
            headers=agent.headers,
        )
        url = f"{base}/comments/{comment.json()['id']}"
        edited = await client.patch(
            url, json={"body": "Card ending 1111 of Jane Roe"}, headers=agent.headers
        )
        assert edited.status_code == 200
        assert (await client.delete(url, headers=agent.headers)).status_code == 204
    for member in (reporter, viewer, agent):
        timeline = await client.get(f"{base}/timeline", headers=member.headers)
        assert timeline.status_code == 200
        assert "Jane Roe" not in timeline.text
        kinds = [i["event"]["kind"] for i in timeline.json()["items"] if i["type"] == "event"]
        assert "comment_deleted" in kinds
        if member is not agent:  # nothing of the internal note, not even that it existed
            assert kinds.count("comment_deleted") == 1
    stored = await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == uuid.UUID(ticket["id"]))
    )
    assert not [e for e in stored if "Jane Roe" in f"{e.old} {e.new}"]
