"""A Teams bot: one card per ticket in its conversation, posted once and updated as the ticket
changes (Bot Connector calls checked against Microsoft's description, tokens from Entra's
client-credentials grant), without storms, never showing an older version over a newer."""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.relay import relay_outbox
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory
from ticketcreator.notifications import webhooks
from ticketcreator.notifications.models import TeamsBot, WebhookDelivery

from .cards import changes_shown, facts, handled, storm, ticket_event
from .teams_fake import FakeTeams

# Changes in the storm (the figure is 100: TEAMS_STORM_CHANGES=100 measures it).
STORM = int(os.environ.get("TEAMS_STORM_CHANGES", "25"))
INTERVAL_S = get_settings().webhooks.teams_bot_update_interval_s
OTHER_CONVERSATION = "19:escalations@thread.tacv2"


async def add_bot(
    client: httpx.AsyncClient, admin: Member, teams: FakeTeams, event_types: list[str]
) -> dict[str, Any]:
    body = {
        "url": teams.service_url,
        "event_types": event_types,
        "format": "teams_bot",
        "teams_bot": teams.bot(),
    }
    response = await client.post("/v1/webhooks", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def test_a_bot_endpoint_is_checked_and_never_shows_its_secret(
    client: httpx.AsyncClient, session: AsyncSession, teams: FakeTeams
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    endpoint = await add_bot(client, admin, teams, ["ticket.updated"])
    assert endpoint["format"] == "teams_bot"
    assert endpoint["teams_bot"] == {
        key: value for key, value in teams.bot().items() if key != "app_secret"
    }
    listed = await client.get("/v1/webhooks", headers=admin.headers)
    one = await client.get(f"/v1/webhooks/{endpoint['id']}", headers=admin.headers)
    for response in (listed, one):
        assert response.status_code == 200
        assert teams.app_secret not in response.text
    assert one.json()["teams_bot"]["conversation_id"] == "19:triage@thread.tacv2"
    stored = await session.scalar(text("SELECT app_secret FROM teams_bot"))
    assert stored is not None
    assert teams.app_secret not in stored

    async def refused(body: dict[str, Any], path: str = "/v1/webhooks") -> dict[str, Any]:
        verb = client.post if path == "/v1/webhooks" else client.patch
        response = await verb(path, headers=admin.headers, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, Any] = response.json()
        return problem

    base = {"url": teams.service_url, "event_types": ["ticket.updated"]}
    await refused({**base, "format": "teams_bot"})  # no bot
    await refused({**base, "format": "teams", "teams_bot": teams.bot()})  # a bot elsewhere
    await refused({**base, "format": "teams_bot", "teams_bot": {**teams.bot(), "app_id": "x"}})
    bad_conversation = {**teams.bot(), "conversation_id": "19:a/../b"}
    await refused({**base, "format": "teams_bot", "teams_bot": bad_conversation})
    standard = await client.post("/v1/webhooks", headers=admin.headers, json=base)
    problem = await refused({"teams_bot": teams.bot()}, f"/v1/webhooks/{standard.json()['id']}")
    assert problem["type"].endswith("/not-a-bot-endpoint")

    for role in (Role.AGENT, Role.REPORTER, Role.VIEWER):
        member = await create_member(session, admin.organization, role)
        for path in ("/v1/webhooks", f"/v1/webhooks/{endpoint['id']}"):
            refused_read = await client.get(path, headers=member.headers)
            assert refused_read.status_code == 403
            assert teams.app_id not in refused_read.text
    stranger = await create_member(session, role=Role.ADMIN)  # another organization's admin
    hidden = await client.get(f"/v1/webhooks/{endpoint['id']}", headers=stranger.headers)
    assert hidden.status_code == 404
    assert teams.app_id not in hidden.text
    deleted = await client.delete(f"/v1/webhooks/{endpoint['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert await session.scalar(select(func.count()).select_from(TeamsBot)) == 0


async def test_a_storm_of_changes_is_one_card_updated_in_place(
    client: httpx.AsyncClient, session: AsyncSession, teams: FakeTeams, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    events = ["ticket.created", "ticket.updated", "ticket.triaged"]
    await add_bot(client, admin, teams, events)
    relay = asyncio.create_task(relay_outbox())
    try:
        created = await client.post(
            "/v1/tickets", headers=admin.headers, json={"title": "VPN drops"}
        )
        ticket = created.json()

        async def triaged() -> bool:
            cards = teams.cards()
            return bool(cards) and "Ticket triaged" in str(cards[0]["body"])

        await wait_for(triaged, what="the card showing the ticket's triage")
        before = await _quiet(teams)  # the AI's own changes are on the card too
        [card] = teams.cards()
        shown_before = changes_shown(card)

        storm_s = await storm(client, admin, ticket["id"], STORM)

        async def final() -> bool:
            cards = teams.cards()
            return bool(cards) and facts(cards[-1])["Status"] == "in_progress"

        await wait_for(final, what="the card with the final status")
        await _quiet(teams)
    finally:
        relay.cancel()

    assert teams.violations == []
    [card] = teams.cards()  # one message in the conversation, however many changes
    storm_calls = teams.calls[before:]
    measured = f"{STORM} changes in {storm_s:.1f}s, interval {INTERVAL_S:g}s"
    print(f"\nteams bot storm: {measured} -> {len(storm_calls)} updates of one card")
    assert {call.method for call in storm_calls} == {"PUT"}
    assert len(storm_calls) <= 2 + math.ceil(storm_s / INTERVAL_S)
    assert [call.method for call in teams.calls[:1]] == ["POST"]
    assert facts(card) == {"Status": "in_progress", "Priority": ["low", "high"][STORM % 2]}
    assert card["body"][1]["text"] == f"{ticket['key']}: Try {STORM - 2}"
    assert changes_shown(card) == shown_before + STORM  # every change once
    listed = card["body"][3]["text"].splitlines()
    assert listed[-1] == "- Ticket updated: status open → in_progress"
    # A token is kept by each worker process (the test worker runs 2), not fetched per call.
    assert len(teams.token_requests) <= 2 < len(teams.calls)


async def _quiet(teams: FakeTeams, quiet_s: float = 2 * INTERVAL_S + 1) -> int:
    """How many calls the fake had once none came for ``quiet_s`` seconds."""
    count = -1
    while count != len(teams.calls):
        count = len(teams.calls)
        await asyncio.sleep(quiet_s)
    return count


async def test_versions_of_a_card_are_shown_in_order_and_a_deleted_card_comes_back(
    client: httpx.AsyncClient, session: AsyncSession, teams: FakeTeams
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    endpoint = await add_bot(client, admin, teams, ["ticket.updated"])
    ticket = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Badge reader"})
    ).json()
    priorities = iter(["high", "low", "urgent", "normal", "high", "low", "urgent"])

    def event(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ticket_event(admin.org_id, ticket["id"], topic, payload)

    async def version() -> uuid.UUID:
        """The delivery of the card's next version: a change, sent at once or held and then
        made into a card at the end of the interval."""
        change = {"field": "priority", "old": "normal", "new": next(priorities)}
        ids = await handled(webhooks.record, event("ticket.updated", {"changes": [change]}))
        if not ids:
            due = event("teams.card_due", {"endpoint_id": endpoint["id"]})
            ids = await handled(webhooks.record_held_card, due)
        [delivery_id] = ids
        return delivery_id

    async def attempt(delivery_id: uuid.UUID) -> WebhookDelivery:
        async with session_factory()() as db:
            await webhooks.attempt(db, delivery_id)
            await commit(db)
            found = await db.get(WebhookDelivery, delivery_id)
            assert found is not None
            return found

    first = await attempt(await version())
    assert first.status == "succeeded"
    assert [c.method for c in teams.calls] == ["POST"]
    second, third = await version(), await version()
    assert (await attempt(third)).status == "succeeded"  # the newer one goes first ...
    late = await attempt(second)  # ... and the older one, retried late, is not shown
    assert late.status == "succeeded"
    assert "skipped" in late.attempts[-1]
    assert [c.method for c in teams.calls] == ["POST", "PUT"]
    [card] = teams.cards()
    assert changes_shown(card) == 3
    assert card["body"][3]["text"].splitlines()[-1] == "- Ticket updated: priority normal → urgent"

    teams.activities["19:triage@thread.tacv2"].clear()  # someone deleted the card in Teams
    assert (await attempt(await version())).status == "succeeded"
    assert [c.method for c in teams.calls[2:]] == ["PUT", "POST"]  # 404, so posted again
    [card] = teams.cards()
    assert changes_shown(card) == 4

    wrong = {**teams.bot(), "app_secret": "an-expired-secret-0123456789"}
    path = f"/v1/webhooks/{endpoint['id']}"
    patched = await client.patch(path, headers=admin.headers, json={"teams_bot": wrong})
    assert patched.status_code == 200, patched.text
    refused = await attempt(await version())
    assert refused.status == "pending"
    assert refused.next_attempt_at is not None
    assert "AADSTS7000215" in refused.attempts[-1]["error"]
    assert "an-expired-secret" not in str(refused.attempts)

    moved = {**teams.bot(), "conversation_id": OTHER_CONVERSATION}
    patched = await client.patch(path, headers=admin.headers, json={"teams_bot": moved})
    assert patched.status_code == 200, patched.text
    assert (await attempt(await version())).status == "succeeded"
    assert teams.calls[-1].method == "POST"
    assert teams.calls[-1].conversation_id == OTHER_CONVERSATION
    [card] = teams.cards(OTHER_CONVERSATION)
    assert changes_shown(card) == 6
    assert facts(card)["Priority"] == ticket["priority"]
    again = await client.post(f"{path}/deliveries/{refused.id}/redeliver", headers=admin.headers)
    assert again.status_code == 202, again.text
    assert (await attempt(refused.id)).attempts[-1].get("skipped")  # outdated: not shown
    assert teams.violations == []
