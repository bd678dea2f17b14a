"""Microsoft Teams: ticket events as Adaptive Cards 1.5 (checked against Microsoft's schema),
posted to a Workflows webhook, and kept under Teams' ~28 KB message limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.notifications import teams

from .conftest import Receiver

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
    card = check_card(teams.message("ticket.created", summary("Clicking Pay does nothing")))
    card["body"][0]["type"] = "Paragraph"  # not an Adaptive Card element
    validator = jsonschema.Draft6Validator(SCHEMA)
    assert not validator.is_valid(card)


def test_a_long_description_is_cut_to_fit_and_keeps_the_link() -> None:
    long = "Steps to reproduce: " + "click pay, wait, nothing happens ü. " * 3000  # ~110 KB
    message = teams.message("ticket.updated", summary(long))
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
    short = teams.message("ticket.updated", summary("Short"))
    assert check_card(short)["body"][-1]["text"] == "Short"


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
