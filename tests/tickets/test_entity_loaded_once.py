"""A request on one ticket reads the ticket's row once: the route's dependency loads it and
hands it to the services, which do not look it up again."""

from __future__ import annotations

import httpx

from tests.support.factories import Member
from tests.support.statements import TICKET_ROW_READ, statements_matching
from tests.tickets.conftest import new_ticket


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
