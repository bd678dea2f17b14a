"""The ``notify`` routing action: a rule announces the tickets it matches on a webhook
endpoint (a Teams channel or a customer's system), once per ticket and rule."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.notifications.test_teams import check_card
from tests.routing.conftest import create_rule
from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role

from .conftest import Receiver


async def test_a_rule_announces_the_tickets_it_matches_on_its_endpoints(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    endpoints = {}
    for kind in ("teams", "standard"):
        created = await client.post(
            "/v1/webhooks",
            headers=admin.headers,
            json={
                "url": f"{receiver.url}/{kind}",
                "event_types": ["ticket.linked"],
                "format": kind,
            },
        )
        assert created.status_code == 201, created.text
        endpoints[kind] = created.json()["id"]
    unknown = {"type": "notify", "webhook_id": str(uuid.uuid4())}
    refused = await client.post(
        "/v1/routing/rules", json={"name": "n", "actions": [unknown]}, headers=admin.headers
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "actions[0].webhook_id"
    rule = await create_rule(
        client,
        admin,
        name="Tell the payments team",
        actions=[{"type": "notify", "webhook_id": id_} for id_ in endpoints.values()],
    )
    ticket = await client.post(
        "/v1/tickets", headers=admin.headers, json={"title": "Refund stuck at the bank"}
    )
    assert ticket.status_code == 201

    async def arrived() -> bool:
        return len(receiver.requests) >= 2

    await wait_for(arrived, 180, "the rule's notifications")
    by_path = {request.path: request for request in receiver.requests}
    assert len(receiver.requests) == 2, [r.path for r in receiver.requests]
    card = check_card(json.loads(by_path["/hooks/teams"].body))
    assert card["body"][0]["text"] == "Routing rule matched"
    assert card["body"][1]["text"] == f"{ticket.json()['key']}: Refund stuck at the bank"
    standard = json.loads(by_path["/hooks/standard"].body)
    assert standard["type"] == "routing.notify"
    assert standard["data"]["ticket_id"] == ticket.json()["id"]
    assert standard["data"]["rule"] == "Tell the payments team"
    assert standard["data"]["rule_id"] == rule["id"]
    assert by_path["/hooks/standard"].headers["webhook-signature"].startswith("v1,")
