"""Rules as a process keeps them (parsed once per version of the organization's rules) and
the transaction they run in: the triage's, or the person's change that triggers them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.routing.conftest import call, create_rule, events, in_session, new_ticket
from tests.routing.test_rules import route
from tests.support.factories import Member
from ticketcreator.ai.triage.service import ai_principal
from ticketcreator.core.events import Topic, emit
from ticketcreator.routing import actions, flows
from ticketcreator.routing.actions import ExternalAction, Params
from ticketcreator.tickets import changes
from ticketcreator.tickets.models import Priority, Ticket


async def test_a_changed_rule_applies_to_the_next_ticket(
    client: httpx.AsyncClient, admin: Member
) -> None:
    rule = await create_rule(client, admin, actions=[{"type": "add_tags", "tags": ["first"]}])
    other = await create_rule(client, admin, actions=[{"type": "add_tags", "tags": ["other"]}])

    async def tags_after_routing() -> list[str]:
        ticket = await new_ticket(client, admin)
        await route(ticket["id"])
        found: list[str] = (await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}"))["tags"]
        return found

    assert await tags_after_routing() == ["first", "other"]
    path = f"/v1/routing/rules/{rule['id']}"
    second = [{"type": "add_tags", "tags": ["second"]}]
    await call(client, admin, "PATCH", path, json={"actions": second})
    assert await tags_after_routing() == ["other", "second"]
    await call(client, admin, "PATCH", path, json={"stop": True})
    assert await tags_after_routing() == ["second"]
    order = {"rule_ids": [other["id"], rule["id"]]}
    await call(client, admin, "PUT", "/v1/routing/rules/order", json=order)
    assert await tags_after_routing() == ["other", "second"]
    await call(client, admin, "PATCH", path, json={"enabled": False})
    assert await tags_after_routing() == ["other"]
    await call(client, admin, "DELETE", f"/v1/routing/rules/{other['id']}", 204)
    assert await tags_after_routing() == []


async def test_a_persons_change_and_the_rules_it_fires_are_one_change(
    client: httpx.AsyncClient, admin: Member
) -> None:
    await create_rule(
        client,
        admin,
        name="Urgent ones are escalated",
        triggers=["updated"],
        conditions={"all": [{"field": "priority", "op": "eq", "value": "urgent"}]},
        actions=[{"type": "add_tags", "tags": ["escalated"]}],
    )
    ticket = await new_ticket(client, admin)
    response = await client.patch(
        f"/v1/tickets/{ticket['id']}", json={"priority": "urgent"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    # the answer to the change already holds the rule's work, committed with it
    assert response.json()["tags"] == ["escalated"]
    stored = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert stored["tags"] == ["escalated"]
    assert (
        response.headers["etag"]
        == (await client.get(f"/v1/tickets/{ticket['id']}", headers=admin.headers)).headers["etag"]
    )
    fired = await events(ticket["id"], "rule_fired")
    assert [(f.new["rule"], f.new["trigger"]) for f in fired] == [
        ("Urgent ones are escalated", "updated")
    ]


class _FailingParams(Params):
    reason: str


class FailingAction(ExternalAction):
    """An action whose work fails for a reason that is not the rule's (a lost connection)."""

    key: ClassVar[str] = "explode"
    params: ClassVar[type[Params]] = _FailingParams

    def describe(self, params: Params) -> str:
        return "explode"

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        assert isinstance(params, _FailingParams)
        raise ConnectionError(params.reason)


@pytest.fixture
def failing_type() -> Iterator[None]:
    actions.register(FailingAction())
    yield
    actions.unregister("explode")


async def test_the_triage_and_the_rules_it_fires_commit_together(
    client: httpx.AsyncClient, admin: Member, failing_type: None
) -> None:
    await create_rule(
        client,
        admin,
        name="High ones",
        conditions={"all": [{"field": "priority", "op": "eq", "value": "high"}]},
        actions=[{"type": "add_tags", "tags": ["triaged-high"]}],
    )
    await create_rule(
        client,
        admin,
        conditions={"all": [{"field": "priority", "op": "eq", "value": "urgent"}]},
        actions=[{"type": "explode", "reason": "connection lost"}],
    )
    ticket = await new_ticket(client, admin)

    async def triaged(db: AsyncSession, priority: Priority) -> None:
        """What the triage records: the fields it applies, then ``ticket.triaged``."""
        locked = await flows.locked_ticket(db, uuid.UUID(ticket["id"]))
        assert locked is not None
        principal = ai_principal(locked.organization_id)
        await changes.apply(db, principal, locked, {"priority": priority})
        payload = {"ticket_id": ticket["id"], "run_id": str(uuid.uuid4()), "applied": {}}
        emit(db, Topic.TICKET_TRIAGED, payload, organization_id=locked.organization_id)

    await in_session(triaged, Priority.HIGH)
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert (after["priority"], after["tags"]) == ("high", ["triaged-high"])
    # routing fails: the triage's change is not committed without it, and is retried whole
    with pytest.raises(ConnectionError):
        await in_session(triaged, Priority.URGENT)
    after = await call(client, admin, "GET", f"/v1/tickets/{ticket['id']}")
    assert (after["priority"], after["tags"]) == ("high", ["triaged-high"])
    assert len(await events(ticket["id"], "rule_fired")) == 1
