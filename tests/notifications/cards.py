"""Reading Teams cards, storms of changes, and events handed to a Teams endpoint's handlers
as the outbox would hand them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from ticketcreator.core.db import commit, session_factory, utcnow

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[list[uuid.UUID]]]


def facts(card: dict[str, Any]) -> dict[str, str]:
    """The card's status and priority."""
    [found] = [block for block in card["body"] if block["type"] == "FactSet"]
    return {fact["title"]: fact["value"] for fact in found["facts"]}


def changes_shown(card: dict[str, Any]) -> int:
    """How many changes the card announces (its heading)."""
    heading = card["body"][0]["text"]
    return int(heading.split()[0]) if heading.endswith(" changes") else 1


def ticket_event(
    organization_id: uuid.UUID, ticket_id: str, topic: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """An outbox message about a ticket, as a subscriber receives it."""
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "organization_id": str(organization_id),
        "occurred_at": utcnow().isoformat(),
        "payload": {"ticket_id": ticket_id, **payload},
    }


async def handled(handler: Handler, message: dict[str, Any]) -> list[uuid.UUID]:
    """The deliveries a handler records for the message, committed."""
    async with session_factory()() as db:
        ids = await handler(db, message)
        await commit(db)
    return ids


async def storm(client: httpx.AsyncClient, member: Member, ticket_id: str, changes: int) -> float:
    """``changes`` changes to a ticket as fast as the API takes them: its title and priority
    (alternating low and high), then its status to in_progress; the seconds they took."""
    started = time.monotonic()
    ref = f"/v1/tickets/{ticket_id}"
    for n in range(changes - 1):
        change = {"title": f"Try {n}", "priority": ["low", "high"][n % 2]}
        response = await client.patch(ref, headers=member.headers, json=change)
        assert response.status_code == 200, response.text
    last = await client.patch(ref, headers=member.headers, json={"status": "in_progress"})
    assert last.status_code == 200, last.text
    return time.monotonic() - started
