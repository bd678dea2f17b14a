"""GitHub: issues from tickets, both-way status and comments, signed webhooks, failures.

Every request goes to a fake GitHub that validates it against GitHub's OpenAPI description.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integrations import chaos
from tests.integrations.conftest import (
    WEBHOOK_SECRET,
    create_ticket,
    github_installation,
    install,
    link_of,
    push,
    request,
)
from tests.integrations.contract import GITHUB_WEBHOOK_EXAMPLES, github_webhook_schema
from tests.integrations.fake_vendor import FakeGitHub, Fault
from tests.support.factories import Member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.integrations.base import hub_signature as sign
from ticketcreator.integrations.models import Installation, TicketSync, WebhookDelivery

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def assert_contract_kept(fake: FakeGitHub) -> None:
    assert fake.violations == []
    assert fake.uncontracted <= {"GET /search/issues", "POST /app/installations/"}


async def test_ticket_becomes_issue_in_under_two_seconds(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub, celery_worker: Worker
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    chaos.serve_integrations_only(celery_worker)
    await create_ticket(client, admin, title="warm-up: the worker's first task")
    await wait_for(lambda: _issues(fake_github, 1), timeout=30, interval=0.02)

    timings = []
    for n in range(2, 5):
        started = time.monotonic()
        ticket = await create_ticket(client, admin, priority="high", tags=["checkout", "safari"])
        await wait_for(lambda: _issues(fake_github, n), timeout=10, interval=0.01)  # noqa: B023
        timings.append(time.monotonic() - started)
    print(f"ticket → GitHub issue: {', '.join(f'{t:.3f}' for t in timings)} s")
    assert max(timings) < 2.0, timings
    issue = fake_github.issues["acme/web#4"]
    assert issue["title"] == f"[{ticket['key']}] Checkout button does nothing"
    assert {label["name"] for label in issue["labels"]} == {"checkout", "safari", "priority: high"}
    assert f"ticketcreator:ticket:{ticket['id']}" in issue["body"]

    async def linked() -> Any:
        response = await client.get(
            f"/v1/integrations/tickets/{ticket['key']}/links", headers=admin.headers
        )
        return response.json()["links"]

    links = await wait_for(linked, timeout=10)
    assert links[0]["external_id"] == "acme/web#4"
    assert links[0]["installation_id"] == installation["id"]
    assert_contract_kept(fake_github)


async def _issues(fake: FakeGitHub, count: int) -> bool:
    return len(fake.issues_of("acme/web")) >= count


async def _capture(client: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    files = {"file": ("checkout.png", PNG, "image/png")}
    attachment = await client.post("/v1/attachments", files=files, headers=member.headers)
    assert attachment.status_code == 201, attachment.text
    now = "2026-12-03T10:00:00+00:00"
    body = {
        "kind": "screenshot",
        "attachment_ids": [attachment.json()["id"]],
        "page_url": "https://shop.example.com/checkout",
        "page_title": "Checkout",
        "browser": {"name": "Chrome", "version": "131"},
        "os": {"name": "macOS", "version": "15.1"},
        "console": [
            {"level": "error", "message": "TypeError: cart is undefined", "timestamp": now},
            {"level": "log", "message": "rendered", "timestamp": now},
        ],
        "network": {
            "entries": [
                {
                    "startedDateTime": now,
                    "time": 120,
                    "request": {"method": "POST", "url": "https://shop.example.com/api/pay"},
                    "response": {"status": 502},
                },
                {
                    "startedDateTime": now,
                    "time": 20,
                    "request": {"method": "GET", "url": "https://shop.example.com/api/cart"},
                    "response": {"status": 200},
                },
            ]
        },
        "ticket": {"title": "Pay button fails", "description": "I click pay and nothing."},
    }
    response = await client.post("/v1/captures", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_issue_body_carries_the_capture_summary(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    capture = await _capture(client, admin)
    await request(installation["id"], capture["ticket_id"])

    assert await push(installation["id"], capture["ticket_id"]) == "done"

    body = fake_github.issues_of("acme/web")[0]["body"]
    assert "I click pay and nothing." in body
    assert "**Page:** Checkout <https://shop.example.com/checkout>" in body
    assert "**Browser:** Chrome 131" in body
    assert "**OS:** macOS 15.1" in body
    assert "TypeError: cart is undefined" in body
    assert "rendered" not in body
    assert "`POST https://shop.example.com/api/pay → 502`" in body
    assert "/api/cart" not in body
    link = body.split("[checkout.png](", 1)[1].split(")", 1)[0]
    assert "/v1/signed/attachments/" in link
    assert "signature=" in link
    download = await client.get(link.replace("http://127.0.0.1:8000", ""))
    assert download.status_code == 200
    assert download.content == PNG
    assert_contract_kept(fake_github)


async def test_status_and_public_comments_go_out_internal_notes_do_not(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"

    ref = ticket["key"]
    for body in ({"status": "resolved"},):
        response = await client.patch(f"/v1/tickets/{ref}", json=body, headers=admin.headers)
        assert response.status_code == 200, response.text
    public = await client.post(
        f"/v1/tickets/{ref}/comments", json={"body": "Fixed in 2.3"}, headers=admin.headers
    )
    internal = await client.post(
        f"/v1/tickets/{ref}/comments",
        json={"body": "customer is difficult", "internal": True},
        headers=admin.headers,
    )
    assert public.status_code == internal.status_code == 201
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"

    issue = fake_github.issues["acme/web#1"]
    assert issue["state"] == "closed"
    assert issue["state_reason"] == "completed"
    comments = fake_github.comments["acme/web#1"]
    assert len(comments) == 1
    assert "Fixed in 2.3" in comments[0]["body"]
    assert f"ticketcreator:comment:{public.json()['id']}" in comments[0]["body"]

    # a push with nothing new sends nothing
    calls = len(fake_github.calls)
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.calls) == calls

    reopened = await client.patch(
        f"/v1/tickets/{ref}", json={"status": "open"}, headers=admin.headers
    )
    assert reopened.status_code == 200
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert issue["state"] == "open"
    assert issue["state_reason"] == "reopened"
    link = await link_of(session, ticket["id"])
    assert link.last_synced_version == reopened.json()["version"]
    assert_contract_kept(fake_github)


def _webhook(
    event: str, payload: dict[str, Any], secret: str | None = WEBHOOK_SECRET
) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/abc",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return {"content": body, "headers": headers}


def _example(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(
        (GITHUB_WEBHOOK_EXAMPLES / f"{name}.payload.json").read_text()
    )
    return payload


def closed_payload(number: int) -> dict[str, Any]:
    """GitHub ships no ``issues.closed`` example: the reopened one, closed, and checked
    against the ``issues-closed`` schema of the description."""
    from openapi_schema_validator import OAS30Validator

    payload = _example("issues.reopened")
    payload["action"] = "closed"
    payload["issue"].update(
        number=number, state="closed", state_reason="completed", closed_at="2026-12-03T10:00:00Z"
    )
    payload["repository"]["full_name"] = "acme/web"
    schema, components = github_webhook_schema("issues", "closed")
    errors = list(OAS30Validator({**schema, "components": components}).iter_errors(payload))
    assert errors == [], errors[0].message
    return payload


async def test_signed_webhook_closes_the_ticket_forged_ones_change_nothing(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    from ticketcreator.integrations import sync

    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    url = f"/v1/integrations/github/webhook/{installation['id']}"
    payload = closed_payload(1)

    forged = _webhook("issues", payload, secret="not-the-secret")
    missing = _webhook("issues", payload, secret=None)
    tampered = _webhook("issues", payload)
    tampered["content"] = tampered["content"].replace(b'"closed"', b'"open"', 1)
    for attempt in (forged, missing, tampered):
        response = await client.post(url, **attempt)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0

    signed = _webhook("issues", payload)
    started = time.monotonic()
    response = await client.post(url, **signed)
    assert response.status_code == 202
    assert time.monotonic() - started < 1.0
    assert response.json() == {"accepted": True, "duplicate": False}
    again = await client.post(url, **signed)
    assert again.json()["duplicate"] is True

    delivery = (await session.scalars(select(WebhookDelivery))).one()
    async with _session() as worker_session:
        assert (
            await sync.process_delivery(worker_session, delivery.id) == "status: resolved (closed)"
        )
        await worker_session.commit()
    view = await client.get(f"/v1/tickets/{ticket['key']}", headers=admin.headers)
    assert view.json()["status"] == "resolved"

    # the ticket's change is not sent back: GitHub already has it
    calls = len(fake_github.calls)
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.calls) == calls
    timeline = await client.get(f"/v1/tickets/{ticket['key']}/timeline", headers=admin.headers)
    kinds = [
        item["event"]["actor_kind"]
        for item in timeline.json()["items"]
        if item.get("event") and item["event"]["kind"] == "status_changed"
    ]
    assert kinds == ["system"]


def _session() -> Any:
    from ticketcreator.core.db import session_factory

    return session_factory()()


async def test_comments_come_back_and_our_own_echo_is_ignored(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    from ticketcreator.integrations import sync

    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await client.post(
        f"/v1/tickets/{ticket['key']}/comments", json={"body": "ours"}, headers=admin.headers
    )
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    ours = fake_github.comments["acme/web#1"][0]

    url = f"/v1/integrations/github/webhook/{installation['id']}"
    echo = _example("issue_comment.created")
    echo["issue"]["number"] = 1
    echo["repository"]["full_name"] = "acme/web"
    echo["comment"].update(id=ours["id"], body=ours["body"])
    theirs = json.loads(json.dumps(echo))
    theirs["comment"].update(id=99, body="Cannot reproduce on main.")
    theirs["comment"]["user"]["login"] = "octodev"
    for payload in (echo, theirs):
        response = await client.post(url, **_webhook("issue_comment", payload))
        assert response.status_code == 202

    async with _session() as db:
        deliveries = (
            await db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.received_at))
        ).all()
        outcomes = [await sync.process_delivery(db, d.id) for d in deliveries]
        await db.commit()
    assert outcomes[0] == "ignored: our own change"
    assert outcomes[1].startswith("comment: ")
    comments = await client.get(f"/v1/tickets/{ticket['key']}/comments", headers=admin.headers)
    bodies = [c["body"] for c in comments.json()["items"]]
    assert bodies == ["ours", "octodev on GitHub:\n\nCannot reproduce on main."]

    # the vendor's comment is not sent back to it
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.comments["acme/web#1"]) == 1


@pytest.mark.parametrize(
    "name",
    sorted(p.name.removesuffix(".payload.json") for p in GITHUB_WEBHOOK_EXAMPLES.glob("*.json")),
)
def test_every_github_example_payload_parses(name: str) -> None:
    from ticketcreator.integrations.github import GitHubProvider

    payload = _example(name)
    event = GitHubProvider().webhook_event_name({"x-github-event": name.split(".")[0]}, payload)
    parsed = GitHubProvider().parse_webhook(event, payload)
    full_name = payload["repository"]["full_name"]
    assert parsed.external_issue_id == f"{full_name}#{payload['issue']['number']}"
    expected = {"issues.reopened": "status", "issue_comment.created": "comment"}
    assert parsed.kind == expected.get(event, "ignored"), event
    if parsed.kind == "status":
        assert parsed.vendor_status == "open"
    if parsed.kind == "comment":
        assert parsed.comment_body == payload["comment"]["body"]
        assert not parsed.from_us


async def test_an_answer_lost_after_the_issue_was_made_never_makes_a_second_one(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    fake_github.fail_next(Fault(500, after_effect=True, operation="issues/create"))

    assert await push(installation["id"], ticket["id"]) == "retry"
    assert len(fake_github.issues_of("acme/web")) == 1
    assert await link_of(session, ticket["id"]) is None

    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.issues_of("acme/web")) == 1
    link = await link_of(session, ticket["id"])
    assert link.external_id == "acme/web#1"
    log = await client.get(f"/v1/integrations/{installation['id']}/log", headers=admin.headers)
    actions = [(e["action"], e["outcome"]) for e in log.json()["items"]]
    assert ("adopt_issue", "ok") in actions
    assert ("push", "retrying") in actions
    assert_contract_kept(fake_github)


async def test_comment_answer_lost_never_duplicates_the_comment(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await client.post(
        f"/v1/tickets/{ticket['key']}/comments", json={"body": "one"}, headers=admin.headers
    )
    await request(installation["id"], ticket["id"])
    fake_github.fail_next(Fault(500, after_effect=True, operation="issues/create-comment"))
    assert await push(installation["id"], ticket["id"]) == "retry"
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.comments["acme/web#1"]) == 1
    assert fake_github.count("issues/list-comments") == 1


async def test_rate_limit_queues_the_work_with_the_vendors_countdown(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    fake_github.fail_next(Fault(429, retry_after=1))

    assert await push(installation["id"], ticket["id"]) == "wait"
    calls = len(fake_github.calls)
    assert await push(installation["id"], ticket["id"]) == "wait"  # held back by the budget
    assert len(fake_github.calls) == calls
    time.sleep(1.1)
    assert await push(installation["id"], ticket["id"]) == "done"
    row = await session.get(Installation, uuid.UUID(installation["id"]))
    assert row is not None
    await session.refresh(row)
    assert row.rate_limit_waits == 2
    assert row.consecutive_failures == 0
    assert row.last_success_at is not None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(401, "failed"), (404, "failed"), (410, "failed"), (422, "failed"), (500, "retry")],
)
async def test_vendor_errors_are_typed(
    client: httpx.AsyncClient,
    admin: Member,
    session: AsyncSession,
    fake_github: FakeGitHub,
    status: int,
    outcome: str,
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    fake_github.fail_next(Fault(status, operation="issues/create"))

    assert await push(installation["id"], ticket["id"]) == outcome
    job = (await session.scalars(select(TicketSync))).one()
    assert str(status) in (job.last_error or "")
    assert (job.next_attempt_at is None) == (outcome == "failed")  # gave up: waits for "sync now"
    health = await client.get(f"/v1/integrations/{installation['id']}", headers=admin.headers)
    assert health.json()["health"]["consecutive_failures"] == 1
    assert health.json()["health"]["pending"] == 1


async def test_a_vendor_slower_than_the_timeout_is_retried_later(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    fake_github.fail_next(Fault(200, delay_s=3, operation="issues/create"))

    assert await push(installation["id"], ticket["id"]) == "retry"
    time.sleep(1.5)  # the slow create went through after we stopped waiting
    assert await push(installation["id"], ticket["id"]) == "done"
    assert len(fake_github.issues_of("acme/web")) == 1


async def test_github_app_installation_token(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    fake_github.app_public_key = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = github_installation(fake_github, auth="app", app_id=42, app_installation_id=7)
    body["secrets"] = {"app_private_key": pem, "webhook_secret": WEBHOOK_SECRET}
    installation = await install(client, admin, body)
    ticket = await create_ticket(client, admin)
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert fake_github.uncontracted == {"POST /app/installations/"}
    assert len(fake_github.issues_of("acme/web")) == 1


async def test_assignee_and_category_follow_the_mappings(
    client: httpx.AsyncClient, admin: Member, agent: Member, fake_github: FakeGitHub
) -> None:
    from ticketcreator.integrations.github import GitHubProvider

    mappings = GitHubProvider().default_mappings().model_dump(mode="json")
    mappings["assignees"] = {str(agent.user.id): "octodev"}
    mappings["category_labels"] = {"Payments": "area: payments"}
    installation = await install(client, admin, github_installation(fake_github, mappings=mappings))
    category = await client.post(
        "/v1/categories", json={"name": "Payments", "description": "Paying"}, headers=admin.headers
    )
    ticket = await create_ticket(client, admin, category_id=category.json()["id"], tags=["card"])
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    issue = fake_github.issues["acme/web#1"]
    assert {label["name"] for label in issue["labels"]} == {
        "area: payments",
        "card",
        "priority: normal",
    }
    assert issue["assignees"] == []

    assigned = await client.put(
        f"/v1/tickets/{ticket['key']}/assignee",
        json={"assignee_id": str(agent.user.id)},
        headers=admin.headers,
    )
    assert assigned.status_code == 200, assigned.text
    await request(installation["id"], ticket["id"])
    assert await push(installation["id"], ticket["id"]) == "done"
    assert [a["login"] for a in issue["assignees"]] == ["octodev"]
    assert_contract_kept(fake_github)
