"""Context from earlier tickets: past resolutions, a suggested assignee, and "looks like T-n"
before a report is filed, always within what the caller may see."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.ai.triage import service
from ticketcreator.core.db import commit

from .conftest import Org, create_ticket

EMPTY_PDF = (
    "Invoice PDF download is empty",
    "When I download an invoice as PDF the file is empty (0 bytes). Happens for every invoice.",
)
EMPTY_PDF_AGAIN = (
    "Empty invoice PDFs",
    "Downloading invoices as PDF gives me an empty file of 0 bytes, for all invoices.",
)
REPLY = "We cleared the PDF cache: please download the invoice again, it is complete now."


async def _filed(
    client: httpx.AsyncClient, session: AsyncSession, member: Member, report: tuple[str, str]
) -> dict[str, object]:
    ticket = await create_ticket(client, member, *report)
    await service.triage(session, uuid.UUID(str(ticket["id"])))
    await commit(session)
    return ticket


async def _patch(client: httpx.AsyncClient, org: Org, ticket: object, body: object) -> None:
    response = await client.patch(f"/v1/tickets/{ticket}", headers=org.agent.headers, json=body)
    assert response.status_code == 200, response.text


async def test_similar_resolved_tickets_bring_their_reply_and_their_assignee(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    reporter = await create_member(session, org.admin.organization, role=Role.REPORTER)
    earlier = await _filed(client, session, org.agent, EMPTY_PDF)
    reply = await client.post(
        f"/v1/tickets/{earlier['id']}/comments", headers=org.agent.headers, json={"body": REPLY}
    )
    assert reply.status_code == 201, reply.text
    await _patch(client, org, earlier["id"], {"assignee_id": str(org.agent.user.id)})
    await _patch(client, org, earlier["id"], {"status": "resolved"})
    new = await _filed(client, session, reporter, EMPTY_PDF_AGAIN)

    view = (await client.get(f"/v1/tickets/{new['id']}/ai", headers=org.agent.headers)).json()
    [past] = view["resolutions"]
    assert past["key"] == f"T-{earlier['number']}"
    assert past["link"] == f"/v1/tickets/T-{earlier['number']}"
    assert past["resolution"] == REPLY
    assert past["similarity"] >= 0.6
    assert view["suggested_assignee"]["user_id"] == str(org.agent.user.id)
    assert view["suggested_assignee"]["resolved"] == 1

    # The reporter may read their ticket, but not the agent's earlier one nor who handled it.
    own = (await client.get(f"/v1/tickets/{new['id']}/ai", headers=reporter.headers)).json()
    assert own["resolutions"] == []
    assert own["suggested_assignee"] is None


async def test_a_draft_that_looks_like_an_open_ticket_names_it_before_filing(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    reporter = await create_member(session, org.admin.organization, role=Role.REPORTER)
    mine = await _filed(client, session, reporter, EMPTY_PDF)
    await _patch(client, org, mine["id"], {"status": "in_progress"})
    await _filed(client, session, org.agent, EMPTY_PDF)  # the same problem, not the reporter's
    draft = {"title": EMPTY_PDF_AGAIN[0], "description": EMPTY_PDF_AGAIN[1]}

    seen = await client.post("/v1/ai/similar-tickets", headers=reporter.headers, json=draft)
    assert seen.status_code == 200, seen.text
    [match] = seen.json()["matches"]
    assert match["key"] == f"T-{mine['number']}"
    assert match["message"] == f"This looks like T-{mine['number']}, already being worked on."

    agent_view = await client.post("/v1/ai/similar-tickets", headers=org.agent.headers, json=draft)
    assert len(agent_view.json()["matches"]) == 2
    outsider = await create_member(session, role=Role.ADMIN)
    elsewhere = await client.post("/v1/ai/similar-tickets", headers=outsider.headers, json=draft)
    assert elsewhere.json()["matches"] == []
    unrelated = {"title": "Dark mode", "description": "Please add a dark theme."}
    none = await client.post("/v1/ai/similar-tickets", headers=reporter.headers, json=unrelated)
    assert none.json()["matches"] == []
    bad = await client.post(
        "/v1/ai/similar-tickets", headers=reporter.headers, json={"title": 5, "x": 1}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
