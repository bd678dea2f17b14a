"""The ``sync`` routing action: a rule sends the tickets it matches to an installation that
does not sync every new ticket."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integrations.conftest import create_ticket, github_installation, install, push
from tests.integrations.fake_vendor import FakeGitHub
from tests.routing.conftest import create_rule, events, in_session
from tests.support.factories import Member
from ticketcreator.integrations.models import TicketSync
from ticketcreator.routing import flows
from ticketcreator.routing.models import Trigger


async def _route(ticket_id: str) -> None:
    async def run(db: AsyncSession) -> None:
        ticket = await flows.locked_ticket(db, uuid.UUID(ticket_id))
        assert ticket is not None
        await flows.route(db, ticket, Trigger.TRIAGED)

    await in_session(run)


async def _syncs(session: AsyncSession, ticket_id: str) -> list[TicketSync]:
    session.expire_all()
    query = select(TicketSync).where(TicketSync.ticket_id == uuid.UUID(ticket_id))
    rows = list((await session.scalars(query)).all())
    await session.commit()
    return rows


async def test_a_rule_sends_the_tickets_it_matches_to_an_installation(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(
        client, admin, github_installation(fake_github, sync_new_tickets=False)
    )
    unknown = {"type": "sync", "installation_id": str(uuid.uuid4())}
    refused = await client.post(
        "/v1/routing/rules", json={"name": "n", "actions": [unknown]}, headers=admin.headers
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "actions[0].installation_id"
    await create_rule(
        client,
        admin,
        conditions={"all": [{"field": "priority", "op": "eq", "value": "urgent"}]},
        actions=[{"type": "sync", "installation_id": installation["id"]}],
    )
    urgent = await create_ticket(client, admin, priority="urgent")
    calm = await create_ticket(client, admin, priority="low")
    assert await _syncs(session, urgent["id"]) == []
    await _route(urgent["id"])
    await _route(calm["id"])

    assert [s.installation_id for s in await _syncs(session, urgent["id"])] == [
        uuid.UUID(installation["id"])
    ]
    assert await _syncs(session, calm["id"]) == []
    assert await push(installation["id"], urgent["id"]) == "done"
    assert len(fake_github.issues) == 1


async def test_a_rule_naming_a_disabled_installation_is_explained_on_the_ticket(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession, fake_github: FakeGitHub
) -> None:
    installation = await install(
        client, admin, github_installation(fake_github, sync_new_tickets=False)
    )
    await create_rule(
        client, admin, actions=[{"type": "sync", "installation_id": installation["id"]}]
    )
    disabled = await client.patch(
        f"/v1/integrations/{installation['id']}", json={"enabled": False}, headers=admin.headers
    )
    assert disabled.status_code == 200, disabled.text
    ticket = await create_ticket(client, admin)
    await _route(ticket["id"])
    assert await _syncs(session, ticket["id"]) == []
    failed = await events(ticket["id"], "routing_failed")
    assert "disabled" in failed[0].new["error"]
