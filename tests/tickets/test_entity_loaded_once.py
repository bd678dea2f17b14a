"""A request on one ticket reads the ticket's row once: the route's dependency loads it and
hands it to the services, which do not look it up again."""

from __future__ import annotations

import uuid

import httpx

from tests.support.factories import Member
from tests.support.statements import TICKET_ROW_READ, statements_matching
from tests.tickets.conftest import new_ticket
from ticketcreator.ai.triage import repository as triage_repository
from ticketcreator.core.db import session_factory
from ticketcreator.routing import flows as routing_flows
from ticketcreator.tickets import service as tickets


async def test_every_request_on_a_ticket_reads_its_row_once(
    client: httpx.AsyncClient, agent: Member, admin: Member
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['number']}"
    requests = [
        ("GET", url, None),
        ("PATCH", url, {"status": "in_progress", "priority": "high"}),
        ("PUT", f"{url}/assignee", {"assignee_id": str(agent.user.id)}),
        ("POST", f"{url}/tags", {"tags": ["checkout"]}),
        ("DELETE", f"{url}/tags/checkout", None),
        ("POST", f"{url}/comments", {"body": "Looking into it"}),
        ("GET", f"{url}/timeline", None),
        ("PUT", f"{url}/watchers/{admin.user.id}", None),
        ("DELETE", url, None),
        ("POST", f"{url}/restore", None),
    ]
    for method, path, body in requests:
        with statements_matching(TICKET_ROW_READ) as reads:
            response = await client.request(method, path, json=body, headers=admin.headers)
        assert response.status_code < 300, (method, path, response.text)
        assert len(reads) == 1, (method, path, reads)


async def test_the_rules_use_the_row_the_triggering_change_locked(
    client: httpx.AsyncClient, agent: Member
) -> None:
    ticket_id = uuid.UUID((await new_ticket(client, agent))["id"])
    async with session_factory()() as db:
        # AI triage locks the ticket with a query of its own, then holds it for the rules.
        row = await triage_repository.ticket(db, ticket_id, lock=True)
        assert row is not None
        tickets.hold(db, row)
        with statements_matching(TICKET_ROW_READ) as reads:
            assert await routing_flows.locked_ticket(db, ticket_id) is row
        assert reads == []
        await db.commit()  # the lock ends with the transaction: the next one reads it again
        with statements_matching(TICKET_ROW_READ) as reads:
            assert await routing_flows.locked_ticket(db, ticket_id) is row
        assert len(reads) == 2, reads  # its organization, then the row under a new lock
        await db.rollback()
