"""A new organization's first bug reports, triaged zero-shot: the README's quickstart ticket."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.ai.evaluation import BUG_REPORT_COLUMNS, priority_scores, read_rows, task_scores
from ticketcreator.ai.triage import service
from ticketcreator.core.db import commit
from ticketcreator.taxonomy.demo import DEMO_CATEGORIES
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import Ticket

from .conftest import Org, create_ticket

QUICKSTART_TITLE = "Checkout button does nothing"
QUICKSTART = (
    "Clicking Pay shows a spinner forever. Console: Uncaught (in promise) TypeError: Cannot "
    "read properties of undefined (reading 'total') at checkout.js:212. POST /api/payments "
    "returned 500. All customers are affected since the deploy, nobody can buy anything."
)


async def _triaged(client: httpx.AsyncClient, session: AsyncSession, org: Org) -> dict[str, object]:
    ticket = await create_ticket(client, org.agent, QUICKSTART_TITLE, QUICKSTART)
    assert await service.triage(session, uuid.UUID(str(ticket["id"]))) is not None
    await commit(session)
    return ticket


async def test_the_quickstart_ticket_is_urgent_with_a_clean_summary_and_tags(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    session.add(Tag(id=uuid.uuid4(), organization_id=org.admin.org_id, name="checkout"))
    await session.commit()
    ticket = await _triaged(client, session, org)

    current = (await client.get(f"/v1/tickets/{ticket['id']}", headers=org.agent.headers)).json()
    assert current["priority"] == "urgent"
    assert current["type"] == "incident"
    assert current["category_id"] == str(org.categories["Billing"])
    assert current["title"] == QUICKSTART_TITLE  # a clear title is kept
    assert "checkout" in current["tags"]  # the organization's own tag is applied

    view = (await client.get(f"/v1/tickets/{ticket['id']}/ai", headers=org.agent.headers)).json()
    summary = view["summary"]
    assert summary.startswith("Clicking Pay shows a spinner forever.")
    assert "All customers are affected since the deploy, nobody can buy anything." in summary
    assert summary.count("Clicking Pay") == 1
    assert summary.count("Cannot read properties of undefined") == 1
    assert "- POST /api/payments → 500" in summary
    assert QUICKSTART not in summary
    assert view["suggested_title"] is None
    suggested_tags = {s["value"] for s in view["suggestions"] if s["field"] == "tags"}
    tags = suggested_tags | set(current["tags"])
    assert {"payments", "checkout", "typeerror"} <= tags
    assert not tags & {"undefined", "properties", "customers", "reading", "total"}
    assert len(tags) <= 5


async def test_a_vague_title_gets_a_suggestion_from_the_report(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    ticket = await create_ticket(
        client,
        org.agent,
        "doesn't work",
        "The invoice PDF download gives an empty file since Monday. Customers ask for their "
        "invoices and we can't send them.",
    )
    assert await service.triage(session, uuid.UUID(str(ticket["id"]))) is not None
    await commit(session)
    view = (await client.get(f"/v1/tickets/{ticket['id']}/ai", headers=org.agent.headers)).json()
    assert view["suggested_title"] == "The invoice PDF download gives an empty file since Monday"
    row = await session.scalar(select(Ticket).where(Ticket.id == uuid.UUID(str(ticket["id"]))))
    assert row is not None


async def test_a_new_organization_s_report_is_triaged_by_the_worker_with_its_categories(
    client: httpx.AsyncClient, session: AsyncSession, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    reporter = await create_member(session, admin.organization, role=Role.REPORTER)
    ids = {}
    for name, description in DEMO_CATEGORIES:
        made = await client.post(
            "/v1/categories", headers=admin.headers, json={"name": name, "description": description}
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    ticket = await create_ticket(
        client,
        reporter,
        QUICKSTART_TITLE,
        "Clicking Pay shows a spinner forever. POST /api/payments returned 500. All customers "
        "are affected since the deploy, nobody can buy anything.",
    )

    async def triaged() -> dict[str, Any] | None:
        url = f"/v1/tickets/{ticket['id']}"
        body: dict[str, Any] = (await client.get(url, headers=admin.headers)).json()
        return body if body["priority"] != "normal" else None

    current = await wait_for(triaged)
    assert current["priority"] == "urgent"
    assert current["type"] == "incident"
    assert current["category_id"] == ids["Payments & billing"]
    view = (await client.get(f"/v1/tickets/{ticket['id']}/ai", headers=reporter.headers)).json()
    assert view["summary"].startswith("Clicking Pay shows a spinner forever.")


BUG_REPORTS = Path(__file__).resolve().parents[3] / "data" / "bug_reports"
# Read back through the API (docs/ai.md, steps 13, 15 and 16), less one or two reports.
# blind3, blind6 (the product's taxonomy) and blind7 (its author's own eight categories) are
# among the zero-shot models' training sets since step 16; blind6 and blind7 were measured
# before, never trained on: see docs/ai.md, step 15.
READ_BACK = {
    "blind3.csv": {
        "priority": 0.82,
        "within_one": 0.97,
        "urgent": 0.92,
        "type": 0.88,
        "category": 0.83,
    },
    "blind6.csv": {
        "priority": 0.76,
        "within_one": 0.96,
        "urgent": 0.92,
        "type": 0.86,
        "category": 0.82,
    },
    "blind7.csv": {
        "priority": 0.67,
        "within_one": 0.94,
        "urgent": 0.88,
        "type": 0.85,
        "category": 0.7,
    },
}


@pytest.mark.parametrize("name", sorted(READ_BACK))
async def test_a_new_organization_s_reports_read_back_through_the_api(
    client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    """The issue's own check: a new organization names its categories with one-line
    descriptions, its reporter files the 100 reports of a set, each is triaged, and the
    ticket is read back. What the ticket shows is what was applied: a category or type under
    the categorization agent's threshold stays a suggestion and does not count."""
    rows = read_rows(BUG_REPORTS / name, BUG_REPORT_COLUMNS)
    admin = await create_member(session, role=Role.ADMIN)
    reporter = await create_member(session, admin.organization, role=Role.REPORTER)
    names = {}
    for category, description in {
        row["category"]: row["category_description"] for row in rows
    }.items():
        made = await client.post(
            "/v1/categories",
            headers=admin.headers,
            json={"name": category, "description": description},
        )
        assert made.status_code == 201, made.text
        names[made.json()["id"]] = category
    shown = []
    for row in rows:
        ticket = await create_ticket(client, reporter, row["title"], row["description"])
        assert await service.triage(session, uuid.UUID(str(ticket["id"]))) is not None
        await commit(session)
        url = f"/v1/tickets/{ticket['id']}"
        shown.append((row, (await client.get(url, headers=admin.headers)).json()))

    def read_back(
        field: str, shows: Callable[[dict[str, Any]], str | None]
    ) -> tuple[list[str], list[str]]:
        """The true labels and what the tickets show (nothing shown: an empty label)."""
        return [row[field] for row, _ in shown], [shows(body) or "" for _, body in shown]

    priority = read_back("priority", lambda body: body["priority"])
    levels = priority_scores(*priority)
    measured = {
        "priority": task_scores(*priority)["accuracy"],
        "within_one": levels["within_one"],
        "urgent": levels["urgent_recall"],
        "type": task_scores(*read_back("type", lambda body: body["type"]))["accuracy"],
        "category": task_scores(
            *read_back("category", lambda body: names.get(body["category_id"]))
        )["accuracy"],
    }
    print(f"\n{name} read back through the API: {measured}")
    least = READ_BACK[name]
    assert all(measured[key] >= least[key] for key in least), measured
