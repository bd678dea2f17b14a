"""POST /v1/captures and reading captures: shapes, secrets, tickets, tenancy, visibility."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.captures.support import capture_body, upload
from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.captures.models import Capture
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.tickets.models import TicketEvent

BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXNlY3JldA"
COOKIE = "session=s3cr3t-session-cookie-value"
API_KEY = "tck_live_5f3c1a9e7d2b4c6a8e0f"
QUERY_TOKEN = "qtok-9d8c7b6a5f4e3d2c1b0a"
PASSWORD = "hunter2-correct-horse"
TS = "2026-11-29T10:00:00Z"


async def _video(client: httpx.AsyncClient, member: Member, silent_video: bytes) -> str:
    return str((await upload(client, member.headers, "tab.webm", silent_video, "video/webm"))["id"])


def _network() -> dict[str, Any]:
    return {
        "version": "1.2",
        "entries": [
            {
                "startedDateTime": "2026-11-29T10:00:01.000Z",
                "time": 212.5,
                "request": {
                    "method": "POST",
                    "url": f"https://api.example.com/v1/avatar?access_token={QUERY_TOKEN}&size=2",
                    "httpVersion": "HTTP/2",
                    "headers": [
                        {"name": "Authorization", "value": BEARER},
                        {"name": "Cookie", "value": COOKIE},
                        {"name": "X-API-Key", "value": API_KEY},
                        {"name": "Accept", "value": "application/json"},
                    ],
                    "queryString": [
                        {"name": "access_token", "value": QUERY_TOKEN},
                        {"name": "size", "value": "2"},
                    ],
                    "cookies": [{"name": "session", "value": COOKIE}],
                    "postData": {
                        "mimeType": "application/json",
                        "text": json.dumps(
                            {"user": {"email": "ann@example.com", "password": PASSWORD}}
                        ),
                    },
                },
                "response": {
                    "status": 409,
                    "statusText": "Conflict",
                    "headers": [{"name": "Set-Cookie", "value": COOKIE}],
                    "content": {
                        "size": 60,
                        "mimeType": "application/json",
                        "text": json.dumps({"error": {"code": "PRF-409"}, "refresh_token": "rt-1"}),
                    },
                },
                "timings": {"send": 1, "wait": 200, "receive": 11.5},
            }
        ],
    }


async def test_capture_creates_a_ticket_and_strips_secrets(
    client: httpx.AsyncClient, session: AsyncSession, silent_video: bytes
) -> None:
    member = await create_member(session, role=Role.REPORTER)
    video = await _video(client, member, silent_video)
    body = capture_body(
        [video],
        network=_network(),
        console=[
            {
                "level": "error",
                "message": f"fetch failed; Authorization: {BEARER}",
                "timestamp": "2026-11-29T10:00:01Z",
            }
        ],
        page_url=f"https://app.example.com/callback?code=oauth-code-123&token={QUERY_TOKEN}",
        steps=[
            {
                "type": "input",
                "selector": "input#password",
                "text": PASSWORD,
                "timestamp": "2026-11-29T10:00:00Z",
            },
            {
                "type": "click",
                "selector": "button",
                "text": "Save profile",
                "timestamp": "2026-11-29T10:00:01Z",
            },
        ],
    )
    response = await client.post("/v1/captures", headers=member.headers, json=body)
    assert response.status_code == 201, response.text
    capture = response.json()
    assert response.headers["Location"] == f"/v1/captures/{capture['id']}"
    assert capture["ticket_key"] == "T-1"
    assert capture["title_generated"] is True
    assert [a["id"] for a in capture["attachments"]] == [video]
    assert capture["secrets_removed"]["headers"] == 4
    assert capture["secrets_removed"]["query"] >= 3
    assert capture["secrets_removed"]["body"] == 2

    row: str = (
        await session.execute(text("SELECT row_to_json(c)::text FROM capture c"))
    ).scalar_one()
    for secret in (BEARER, COOKIE, API_KEY, QUERY_TOKEN, PASSWORD, "oauth-code-123", "rt-1"):
        assert secret not in row
        assert secret.split(" ")[-1] not in row
    entry = capture["network"]["entries"][0]
    assert "cookies" not in entry["request"]
    assert "size=2" in entry["request"]["url"]
    assert json.loads(entry["response"]["content"]["text"])["error"] == {"code": "PRF-409"}
    assert "ann@example.com" in entry["request"]["postData"]["text"]  # PII stays for agents
    assert capture["steps"][1]["text"] == "Save profile"

    ticket = (
        await client.get(f"/v1/tickets/{capture['ticket_id']}", headers=member.headers)
    ).json()
    assert ticket["source"] == "extension"
    assert ticket["description"] == "The profile picture does not load."
    assert ticket["title"] == "The profile picture does not load."
    events = (await session.execute(select(TicketEvent.kind, TicketEvent.actor_kind))).all()
    assert sorted(events) == [("capture_added", "user"), ("created", "user")]
    topics = set((await session.scalars(select(OutboxEvent.topic))).all())
    assert {"ticket.created", "capture.created"} <= topics
    assert "ticket.content_added" not in topics


async def test_capture_on_an_existing_ticket(
    client: httpx.AsyncClient, session: AsyncSession, silent_video: bytes, png: bytes
) -> None:
    agent = await create_member(session)
    ticket = await client.post(
        "/v1/tickets", headers=agent.headers, json={"title": "Avatar upload broken"}
    )
    shot = await upload(client, agent.headers, "shot.png", png, "image/png")
    body = capture_body(
        [shot["id"]], kind="screenshot", ticket=None, ticket_id=ticket.json()["key"]
    )
    response = await client.post("/v1/captures", headers=agent.headers, json=body)
    assert response.status_code == 201, response.text
    capture = response.json()
    assert capture["ticket_id"] == ticket.json()["id"]
    assert capture["title_generated"] is False

    listed = await client.get(f"/v1/tickets/{ticket.json()['key']}/captures", headers=agent.headers)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [capture["id"]]
    assert "network" not in listed.json()["items"][0]
    fetched = await client.get(f"/v1/captures/{capture['id']}", headers=agent.headers)
    assert fetched.status_code == 200
    assert fetched.json()["console"][0]["message"] == "Failed to load avatar: 409 Conflict"
    content_added: list[dict[str, Any]] = list(
        await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.topic == "ticket.content_added")
        )
    )
    assert content_added == [
        {
            "ticket_id": ticket.json()["id"],
            "source": "capture",
            "attachment_id": None,
            "capture_id": capture["id"],
        }
    ]


async def test_idempotent_retry_replays_the_first_capture(
    client: httpx.AsyncClient, session: AsyncSession, silent_video: bytes
) -> None:
    member = await create_member(session, role=Role.REPORTER)
    body = capture_body([await _video(client, member, silent_video)])
    headers = {**member.headers, "Idempotency-Key": "capture-1"}
    first = await client.post("/v1/captures", headers=headers, json=body)
    again = await client.post("/v1/captures", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len((await session.scalars(select(Capture.id))).all()) == 1
    changed = await client.post(
        "/v1/captures", headers=headers, json={**body, "description": "other"}
    )
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/idempotency-key-reused")


async def test_validation_errors(
    client: httpx.AsyncClient, session: AsyncSession, silent_video: bytes, png: bytes
) -> None:
    member = await create_member(session, role=Role.REPORTER)
    video = await _video(client, member, silent_video)
    entry = _network()["entries"][0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"attachment_ids": []}, "body.attachment_ids"),
        ({"attachment_ids": [video, video]}, "body"),
        ({"ticket_id": "T-1"}, "body"),
        ({"ticket": None}, "body"),
        ({"kind": "movie"}, "body.kind"),
        ({"console": [{"level": "fatal", "message": "x", "timestamp": "2026-11-29T10:00:00Z"}]},
         "body.console.0.level"),
        ({"console": [{"level": "log", "message": "x", "timestamp": TS}] * 1001}, "body.console"),
        ({"network": {"entries": [entry] * 1001}}, "body.network.entries"),
        ({"network": {"entries": [{**entry, "request": {"url": "https://x"}}]}},
         "body.network.entries.0.request.method"),
        ({"steps": [{"type": "hover", "timestamp": "2026-11-29T10:00:00Z"}]}, "body.steps.0.type"),
        ({"viewport": {"width": 0, "height": 10}}, "body.viewport.width"),
        ({"page_url": "x" * 9000}, "body.page_url"),
        ({"unknown": 1}, "body.unknown"),
    ]  # fmt: skip
    for override, location in cases:
        response = await client.post(
            "/v1/captures", headers=member.headers, json={**capture_body([video]), **override}
        )
        assert response.status_code == 422, (override, response.text)
        assert location in [e["location"] for e in response.json()["errors"]], location

    other = await create_member(session, member.organization, Role.REPORTER)
    foreign = await _video(client, other, silent_video)
    shot = await upload(client, member.headers, "s.png", png, "image/png")
    for attachment_ids, kind in (
        ([str(uuid.uuid4())], "tab_recording"),
        ([foreign], "tab_recording"),  # a reporter may use only their own uploads
        ([shot["id"]], "tab_recording"),  # a recording capture needs a recording
    ):
        response = await client.post(
            "/v1/captures",
            headers=member.headers,
            json=capture_body(attachment_ids, kind=kind),
        )
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("/invalid-capture-media")


async def test_tenancy_and_reporter_visibility(
    client: httpx.AsyncClient, session: AsyncSession, silent_video: bytes
) -> None:
    reporter = await create_member(session, role=Role.REPORTER)
    video = await _video(client, reporter, silent_video)
    capture = (
        await client.post("/v1/captures", headers=reporter.headers, json=capture_body([video]))
    ).json()
    stranger = await create_member(session)  # an agent of another organization
    colleague = await create_member(session, reporter.organization, Role.REPORTER)
    agent = await create_member(session, reporter.organization, Role.AGENT)

    for member in (stranger, colleague):
        got = await client.get(f"/v1/captures/{capture['id']}", headers=member.headers)
        assert got.status_code == 404
        listed = await client.get(
            f"/v1/tickets/{capture['ticket_id']}/captures", headers=member.headers
        )
        assert listed.status_code == 404
        attach = await client.post(
            "/v1/captures",
            headers=member.headers,
            json=capture_body([video], ticket=None, ticket_id=capture["ticket_id"]),
        )
        assert attach.status_code in (404, 422)
    assert (
        await client.get(f"/v1/captures/{capture['id']}", headers=agent.headers)
    ).status_code == 200
    # Agents may use any upload of their organization.
    attach = await client.post(
        "/v1/captures",
        headers=agent.headers,
        json=capture_body([video], ticket=None, ticket_id=capture["ticket_id"]),
    )
    assert attach.status_code == 201
    # A stranger's own capture cannot reach into another organization's ticket.
    own = await _video(client, stranger, silent_video)
    attach = await client.post(
        "/v1/captures",
        headers=stranger.headers,
        json=capture_body([own], ticket=None, ticket_id=capture["ticket_id"]),
    )
    assert attach.status_code == 404
    assert (
        await client.get(f"/v1/captures/{uuid.uuid4()}", headers=agent.headers)
    ).status_code == 404
