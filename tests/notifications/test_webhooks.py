"""Outgoing webhooks, read from a fake receiver: Standard Webhooks signatures, retries with
backoff, a delivery log, redelivery, auto-disable, SSRF protection, permissions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from tests.support.settings import overridden
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.notifications import webhooks
from ticketcreator.notifications.models import WebhookDelivery

from .conftest import Receiver


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.removeprefix("v1,"), expected)
        for sig in headers["webhook-signature"].split()
    )


async def add_webhook(
    client: httpx.AsyncClient, admin: Member, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks",
        headers=admin.headers,
        json={"url": url, "event_types": types or ["ticket.created", "ticket.status_changed"]},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_ticket(client: httpx.AsyncClient, member: Member, title: str) -> dict[str, Any]:
    response = await client.post("/v1/tickets", headers=member.headers, json={"title": title})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_ticket_events_arrive_signed_at_the_customers_endpoint(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    stranger = await create_member(session, role=Role.ADMIN)
    hook = await add_webhook(client, admin, receiver.url)
    assert hook["secret"].startswith("whsec_")
    assert (
        "secret"
        not in (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    )

    ticket = await create_ticket(client, admin, "Printer on fire")
    await create_ticket(client, stranger, "Someone else's")  # another organization
    moved = await client.patch(
        f"/v1/tickets/{ticket['id']}", headers=admin.headers, json={"status": "in_progress"}
    )
    assert moved.status_code == 200

    async def both() -> bool:
        return len(receiver.requests) >= 2

    await wait_for(both)
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert {b["type"] for b in bodies} == {"ticket.created", "ticket.status_changed"}
    assert {b["data"]["ticket_id"] for b in bodies} == {ticket["id"]}
    for request in receiver.requests:
        assert request.path == "/hooks"
        assert verify(hook["secret"], request.headers, request.body)
        assert not verify(hook["secret"], request.headers, request.body + b" ")
        assert request.headers["content-type"] == "application/json"

    async def logged() -> list[dict[str, Any]] | None:
        log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
        items: list[dict[str, Any]] = log.json()["items"]
        return items if all(i["status"] == "succeeded" for i in items) and items else None

    items = await wait_for(logged)
    assert {f"msg_{uuid.UUID(i['id']).hex}" for i in items} == {
        r.headers["webhook-id"] for r in receiver.requests
    }
    assert all(i["attempts"][0]["status_code"] == 200 for i in items)


@pytest.fixture
def quick_disable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with overridden(
        monkeypatch, TC_WEBHOOKS__DISABLE_AFTER_FAILURES="3", TC_WEBHOOKS__DISABLE_AFTER_S="0"
    ):
        yield


async def _change(delivery_id: uuid.UUID, **values: Any) -> None:
    async with session_factory()() as db:
        await db.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
        )
        await commit(db)


async def _attempt_now(delivery_id: uuid.UUID) -> None:
    """Make the delivery due and attempt it, as the retry sweep and the worker would."""
    await _change(delivery_id, next_attempt_at=utcnow() - timedelta(seconds=1))
    async with session_factory()() as db:
        assert delivery_id in await webhooks.due(db)
        await webhooks.attempt(db, delivery_id)
        await commit(db)


async def _record(admin: Member, topic: str = "ticket.created") -> list[uuid.UUID]:
    message = {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "organization_id": str(admin.org_id),
        "occurred_at": utcnow().isoformat(),
        "payload": {"ticket_id": str(uuid.uuid4()), "key": "T-1"},
    }
    async with session_factory()() as db:
        ids = await webhooks.record(db, message)
        assert await webhooks.record(db, message) == []  # the same event twice: one delivery
        await commit(db)
    return ids


async def test_failures_are_retried_with_backoff_then_the_endpoint_is_disabled(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver, quick_disable: None
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    hook = await add_webhook(client, admin, receiver.url)
    [delivery_id] = await _record(admin)
    receiver.statuses = [500, 503]
    await _attempt_now(delivery_id)
    await _attempt_now(delivery_id)
    log = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
    [entry] = log.json()["items"]
    assert entry["status"] == "pending"
    assert [a["status_code"] for a in entry["attempts"]] == [500, 503]
    assert entry["attempts"][0]["response"] == "nope"
    # The same webhook-id on every attempt, and the next one is scheduled later.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert entry["next_attempt_at"] > entry["attempts"][-1]["at"]

    receiver.statuses = [500]
    await _attempt_now(delivery_id)  # the third failure in a row disables the endpoint
    state = (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin.headers)).json()
    assert state["enabled"] is False
    assert "3 failed attempts" in state["disabled_reason"]
    assert await _record(admin) == []  # a disabled endpoint gets no new deliveries

    # Re-enabled and redelivered by hand: the same delivery succeeds.
    enabled = await client.patch(
        f"/v1/webhooks/{hook['id']}", headers=admin.headers, json={"enabled": True}
    )
    assert enabled.json()["enabled"] is True
    again = await client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{delivery_id}/redeliver", headers=admin.headers
    )
    assert again.status_code == 202, again.text
    await _attempt_now(delivery_id)
    [entry] = (
        await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
    ).json()["items"]
    assert entry["status"] == "succeeded"
    assert [a["status_code"] for a in entry["attempts"]] == [500, 503, 500, 200]


async def test_retries_stop_after_the_retry_window(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    await add_webhook(client, admin, receiver.url)
    [delivery_id] = await _record(admin)
    await _change(delivery_id, created_at=utcnow() - timedelta(hours=24))
    receiver.statuses = [502]
    await _attempt_now(delivery_id)
    async with session_factory()() as db:
        delivery = await db.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        assert delivery.status == "failed"
        assert delivery.next_attempt_at is None


def test_backoff_doubles_up_to_its_ceiling() -> None:
    cfg = get_settings().webhooks
    first, fifth = webhooks.backoff(1), webhooks.backoff(5)
    assert 0.8 * cfg.retry_base_s <= first <= 1.2 * cfg.retry_base_s
    assert 0.8 * 16 * cfg.retry_base_s <= fifth <= 1.2 * 16 * cfg.retry_base_s
    assert webhooks.backoff(40) <= 1.2 * cfg.retry_max_delay_s


@pytest.fixture
def ssrf_protected(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with overridden(monkeypatch, TC_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES="false"):
        yield


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://example.com/hook",
        "http://user:pass@93.184.215.14/hook",
        "http://does-not-resolve.invalid/hook",
    ],
)
async def test_private_and_malformed_urls_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, ssrf_protected: None, url: str
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    response = await client.post(
        "/v1/webhooks", headers=admin.headers, json={"url": url, "event_types": ["*"]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/unsafe-webhook-url")


async def test_a_url_that_turned_private_is_not_called(
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    await add_webhook(client, admin, receiver.url)  # allowed when it was added
    [delivery_id] = await _record(admin)
    with overridden(monkeypatch, TC_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES="false"):
        await _attempt_now(delivery_id)
    assert receiver.requests == []
    async with session_factory()() as db:
        delivery = await db.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        assert "non-public address" in delivery.attempts[0]["error"]


async def test_only_administrators_manage_webhooks_and_input_is_checked(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    agent = await create_member(session, admin.organization, Role.AGENT)
    hook = await add_webhook(client, admin, receiver.url, ["*"])
    for method, path in [
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/event-types"),
        ("GET", f"/v1/webhooks/{hook['id']}"),
        ("DELETE", f"/v1/webhooks/{hook['id']}"),
    ]:
        refused = await client.request(method, path, headers=agent.headers)
        assert refused.status_code == 403, (method, path)
    types = (await client.get("/v1/webhooks/event-types", headers=admin.headers)).json()["items"]
    assert "ticket.created" in types
    assert "invitation.created" not in types  # carries secrets: never sent out
    unknown = await client.post(
        "/v1/webhooks",
        headers=admin.headers,
        json={"url": receiver.url, "event_types": ["invitation.created"]},
    )
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/unknown-event-type")
    listed = (await client.get("/v1/webhooks", headers=admin.headers)).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    renamed = await client.patch(
        f"/v1/webhooks/{hook['id']}",
        headers=admin.headers,
        json={"description": "CRM", "event_types": ["ticket.created"], "url": receiver.url + "/v2"},
    )
    assert renamed.status_code == 200
    assert renamed.json()["event_types"] == ["ticket.created"]
    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/webhooks/{hook['id']}", headers=admin.headers)
    assert gone.status_code == 404
