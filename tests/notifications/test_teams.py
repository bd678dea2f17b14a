"""Microsoft Teams: ticket changes as Adaptive Cards 1.5 (checked against Microsoft's schema),
posted to a Workflows webhook, kept under Teams' ~28 KB message limit, and without storms:
a burst of changes to a ticket is one card at once and one card listing the rest."""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.relay import relay_outbox
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import session_factory
from ticketcreator.notifications import teams, webhooks
from ticketcreator.notifications.models import TeamsCard, WebhookDelivery

from .cards import changes_shown, facts, handled, storm, ticket_event
from .conftest import Receiver, running_receiver

# Changes in the storm (the figure is 100: TEAMS_STORM_CHANGES=100 measures it).
STORM = int(os.environ.get("TEAMS_STORM_CHANGES", "25"))
WINDOW_S = get_settings().webhooks.teams_coalesce_window_s

SCHEMA = json.loads(
    (Path(__file__).parent / "contracts" / "adaptive-card-1.5.0.schema.json").read_text()
)


def check_card(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    jsonschema.Draft6Validator(SCHEMA).validate(card)
    assert card["version"] == "1.5"
    return card


def summary(description: str) -> teams.TicketSummary:
    return teams.TicketSummary(
        key="T-7",
        title="Checkout button does nothing",
        description=description,
        status="open",
        priority="high",
        url="https://tickets.example.com/v1/tickets/T-7",
    )


def test_the_schema_catches_a_malformed_card() -> None:
    created = [teams.Change("ticket.created")]
    card = check_card(teams.message(summary("Clicking Pay does nothing"), created))
    card["body"][0]["type"] = "Paragraph"  # not an Adaptive Card element
    validator = jsonschema.Draft6Validator(SCHEMA)
    assert not validator.is_valid(card)


def test_a_long_description_is_cut_to_fit_and_keeps_the_link() -> None:
    long = "Steps to reproduce: " + "click pay, wait, nothing happens ü. " * 3000  # ~110 KB
    message = teams.message(summary(long), [teams.Change("ticket.updated", "title")] * 500)
    size = len(json.dumps(message, separators=(",", ":")).encode())
    assert size <= 28 * 1024
    card = check_card(message)
    text = card["body"][-1]["text"]
    assert text.endswith(" …")
    assert long.startswith(text.removesuffix(" …"))
    assert len(text) > 20_000  # cut to the limit, not to a stub
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open ticket", "url": summary("").url}
    ]
    short = teams.message(summary("Short"), [teams.Change("ticket.updated", "title")])
    assert check_card(short)["body"][-1]["text"] == "Short"
    listed = card["body"][-2]["text"].splitlines()
    assert listed[0] == "- … and 480 earlier changes"
    assert listed[1:] == ["- Ticket updated: title"] * teams.LISTED


async def test_a_teams_endpoint_gets_a_card_for_each_ticket_event(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    created = await client.post(
        "/v1/webhooks",
        headers=admin.headers,
        json={"url": receiver.url, "event_types": ["ticket.created"], "format": "teams"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["format"] == "teams"
    ticket = await client.post(
        "/v1/tickets",
        headers=admin.headers,
        json={"title": "Printer on fire", "description": "Smoke from tray 2. " * 2500},
    )
    assert ticket.status_code == 201

    async def arrived() -> bool:
        return bool(receiver.requests)

    await wait_for(arrived)
    [request] = receiver.requests
    assert len(request.body) <= 28 * 1024
    card = check_card(json.loads(request.body))
    assert card["body"][1]["text"] == f"{ticket.json()['key']}: Printer on fire"
    assert card["body"][-1]["text"].endswith(" …")
    assert card["actions"][0]["url"].endswith(f"/v1/tickets/{ticket.json()['key']}")


@pytest.fixture
async def customer() -> AsyncIterator[Receiver]:
    """A second receiver: a customer's own system (standard webhooks)."""
    async with running_receiver() as fake:
        yield fake


async def test_a_storm_of_changes_is_one_card_at_once_and_one_listing_the_rest(
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    customer: Receiver,
    celery_worker: Worker,
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    everything = {"url": customer.url, "event_types": ["*"]}
    assert (await client.post("/v1/webhooks", headers=admin.headers, json=everything)).is_success
    ticket = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Login loops"})
    ).json()

    async def triaged() -> bool:
        return any(json.loads(r.body)["type"] == "ticket.triaged" for r in customer.requests)

    # The Teams endpoint starts after the AI's triage, so the storm is all it hears of.
    await wait_for(triaged, what="the ticket's triage")
    channel = {"url": receiver.url, "event_types": ["ticket.updated"], "format": "teams"}
    assert (await client.post("/v1/webhooks", headers=admin.headers, json=channel)).is_success

    relay = asyncio.create_task(relay_outbox())
    try:
        storm_s = await storm(client, admin, ticket["id"], STORM)

        async def final() -> bool:
            cards = [check_card(json.loads(r.body)) for r in receiver.requests]
            return bool(cards) and facts(cards[-1])["Status"] == "in_progress"

        await wait_for(final, what="the card with the final status")
        await asyncio.sleep(WINDOW_S + 1)  # nothing more comes
    finally:
        relay.cancel()

    cards = [check_card(json.loads(r.body)) for r in receiver.requests]
    assert all(len(r.body) <= 28 * 1024 for r in receiver.requests)
    measured = f"{STORM} changes in {storm_s:.1f}s, window {WINDOW_S:g}s -> {len(cards)} cards"
    print(f"\nteams storm: {measured}")
    assert len(cards) <= 1 + math.ceil(storm_s / WINDOW_S)
    if storm_s < WINDOW_S:
        assert len(cards) == 2
    assert sum(changes_shown(card) for card in cards) == STORM  # every change once
    assert cards[0]["body"][0]["text"] == "Ticket updated"
    assert facts(cards[-1]) == {"Status": "in_progress", "Priority": ["low", "high"][STORM % 2]}
    assert cards[-1]["body"][1]["text"] == f"{ticket['key']}: Try {STORM - 2}"
    listed = cards[-1]["body"][3]["text"].splitlines()
    assert listed[-1] == "- Ticket updated: status open → in_progress"

    # The customer's own system gets every event, signed, one delivery each.
    updates = [
        json.loads(r.body)["data"]
        for r in customer.requests
        if json.loads(r.body)["type"] == "ticket.updated"
    ]
    assert sum(u["actor_user_id"] == str(admin.user.id) for u in updates) == STORM


async def test_a_redelivered_change_is_neither_listed_nor_sent_twice(
    client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    channel = {"url": receiver.url, "event_types": ["ticket.updated"], "format": "teams"}
    endpoint = (await client.post("/v1/webhooks", headers=admin.headers, json=channel)).json()
    ticket = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Fax jammed"})
    ).json()

    def event(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ticket_event(admin.org_id, ticket["id"], topic, payload)

    record = webhooks.record
    priority = {"changes": [{"field": "priority", "old": "normal", "new": "high"}]}
    first, second = event("ticket.updated", priority), event("ticket.updated", priority)
    assert len(await handled(record, first)) == 1  # the first card goes at once
    assert await handled(record, first) == []  # the same event again: no second card
    assert await handled(record, second) == []  # held for the end of the window
    assert await handled(record, second) == []
    async with session_factory()() as db:
        [card] = await db.scalars(select(TeamsCard))
        assert [held["event_id"] for held in card.held] == [second["id"]]
    due = event("teams.card_due", {"endpoint_id": endpoint["id"]})
    assert len(await handled(webhooks.record_held_card, due)) == 1
    assert await handled(webhooks.record_held_card, due) == []  # redelivered: nothing new
    async with session_factory()() as db:
        count = await db.scalar(select(func.count()).select_from(WebhookDelivery))
        assert count == 2
