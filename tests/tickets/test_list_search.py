from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.factories import Member
from tests.support.statements import TICKET_ROW_READ, statements_matching
from tests.tickets.conftest import new_ticket


async def _all_pages(
    client: httpx.AsyncClient, member: Member, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/tickets", params=query, headers=member.headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_keyset_pagination_is_stable_for_every_sort(
    client: httpx.AsyncClient, agent: Member
) -> None:
    priorities = ["low", "urgent", "normal", "high", "normal", "low", "urgent"]
    for n, priority in enumerate(priorities):
        due = {"due_at": f"2030-01-0{n % 3 + 1}T00:00:00Z"} if n % 2 else {}
        await new_ticket(client, agent, title=f"Ticket {n}", priority=priority, **due)
    for sort in (
        "-created_at",
        "created_at",
        "number",
        "-number",
        "priority",
        "-priority",
        "due_at",
        "-due_at",
        "updated_at",
        "-updated_at",
    ):
        items = await _all_pages(client, agent, sort=sort, limit=2)
        assert len(items) == 7, sort
        assert len({t["id"] for t in items}) == 7, sort
    by_priority = [
        t["priority"] for t in await _all_pages(client, agent, sort="-priority", limit=3)
    ]
    assert by_priority == sorted(
        by_priority, key=["low", "normal", "high", "urgent"].index, reverse=True
    )
    by_number = [t["number"] for t in await _all_pages(client, agent, sort="number", limit=3)]
    assert by_number == list(range(1, 8))
    by_due = await _all_pages(client, agent, sort="due_at", limit=2)
    assert [t["due_at"] is None for t in by_due] == [False] * 3 + [True] * 4


async def test_filters(client: httpx.AsyncClient, agent: Member, admin: Member) -> None:
    a = await new_ticket(
        client, agent, priority="high", type="incident", source="email", tags=["ui"]
    )
    b = await new_ticket(
        client,
        agent,
        priority="low",
        assignee_id=str(admin.user.id),
        reporter_id=str(admin.user.id),
    )
    await client.patch(
        f"/v1/tickets/{b['id']}", json={"status": "in_progress"}, headers=agent.headers
    )

    async def ids(**params: Any) -> list[str]:
        page = (await client.get("/v1/tickets", params=params, headers=agent.headers)).json()
        return sorted(t["id"] for t in page["items"])

    assert await ids(status="in_progress") == [b["id"]]
    assert await ids(status="open") == [a["id"]]
    assert await ids(status=["open", "in_progress"]) == sorted([a["id"], b["id"]])
    assert await ids(priority="high") == [a["id"]]
    assert await ids(type="incident") == [a["id"]]
    assert await ids(source="email") == [a["id"]]
    assert await ids(tag="ui") == [a["id"]]
    assert await ids(tag="nope") == []
    assert await ids(tag=["nope", "ui"], priority="high") == [a["id"]]
    assert await ids(assignee="none") == [a["id"]]
    assert await ids(assignee=["none", str(admin.user.id)]) == sorted([a["id"], b["id"]])
    assert await ids(assignee=str(admin.user.id)) == [b["id"]]
    assert await ids(assignee="me") == []
    assert await ids(reporter_id=str(admin.user.id)) == [b["id"]]
    assert await ids(created_after="2000-01-01T00:00:00Z") == sorted([a["id"], b["id"]])
    assert await ids(created_before="2000-01-01T00:00:00Z") == []
    assert await ids(updated_after=b["updated_at"], updated_before="2100-01-01T00:00:00Z")
    bad = await client.get("/v1/tickets", params={"assignee": "bob"}, headers=agent.headers)
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/invalid-query")
    unknown = await client.get("/v1/tickets", params={"colour": "red"}, headers=agent.headers)
    assert unknown.status_code == 422


async def test_full_text_search_is_ranked_and_covers_comments(
    client: httpx.AsyncClient, agent: Member
) -> None:
    title_hit = await new_ticket(client, agent, title="Payment fails at checkout")
    description_hit = await new_ticket(
        client, agent, title="Cart problem", description="The payment provider times out"
    )
    comment_hit = await new_ticket(client, agent, title="Slow page")
    await new_ticket(client, agent, title="Unrelated")
    await client.post(
        f"/v1/tickets/{comment_hit['id']}/comments",
        json={"body": "Payments are failing for this customer"},
        headers=agent.headers,
    )
    page = (await client.get("/v1/tickets", params={"q": "payment"}, headers=agent.headers)).json()
    assert [t["id"] for t in page["items"]] == [
        title_hit["id"],
        description_hit["id"],
        comment_hit["id"],
    ]
    paged = await _all_pages(client, agent, q="payment", limit=1)
    assert [t["id"] for t in paged] == [t["id"] for t in page["items"]]
    newest = await _all_pages(client, agent, q="payment", sort="-created_at", limit=2)
    assert [t["id"] for t in newest] == [comment_hit["id"], description_hit["id"], title_hit["id"]]
    assert (await _all_pages(client, agent, q="nothing-matches", sort="number")) == []
    await client.patch(
        f"/v1/tickets/{title_hit['id']}", json={"title": "Checkout broken"}, headers=agent.headers
    )
    page = (await client.get("/v1/tickets", params={"q": "payment"}, headers=agent.headers)).json()
    assert title_hit["id"] not in [t["id"] for t in page["items"]]
    exact = (
        await client.get("/v1/tickets", params={"q": '"provider times out"'}, headers=agent.headers)
    ).json()
    assert [t["id"] for t in exact["items"]] == [description_hit["id"]]


async def test_sort_and_cursor_errors(client: httpx.AsyncClient, agent: Member) -> None:
    for _ in range(3):
        await new_ticket(client, agent)
    relevance = await client.get("/v1/tickets", params={"sort": "relevance"}, headers=agent.headers)
    assert relevance.status_code == 422
    assert relevance.json()["type"].endswith("/invalid-query")
    page = (await client.get("/v1/tickets", params={"limit": 1}, headers=agent.headers)).json()
    mismatch = await client.get(
        "/v1/tickets",
        params={"cursor": page["next_cursor"], "sort": "number"},
        headers=agent.headers,
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["type"].endswith("/invalid-cursor")
    for cursor in ("%%%", "bnVsbA", "eyJzIjoiLWNyZWF0ZWRfYXQifQ"):
        response = await client.get("/v1/tickets", params={"cursor": cursor}, headers=agent.headers)
        assert response.status_code == 422, cursor
    capped = (await client.get("/v1/tickets", params={"limit": 1000}, headers=agent.headers)).json()
    assert len(capped["items"]) == 3


async def test_query_errors_name_each_parameter(client: httpx.AsyncClient, agent: Member) -> None:
    await new_ticket(client, agent)
    response = await client.get(
        "/v1/tickets?status=open&status=nope&limit=0&colour=red&q=&deleted=maybe",
        headers=agent.headers,
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert {(e["location"], e["type"]) for e in problem["errors"]} == {
        ("query.status.1", "enum"),
        ("query.limit", "greater_than_equal"),
        ("query.colour", "extra_forbidden"),
        ("query.q", "string_too_short"),
        ("query.deleted", "bool_parsing"),
    }
    # a parameter given twice where one value is expected: the last one counts
    twice = await client.get("/v1/tickets?limit=0&limit=1", headers=agent.headers)
    assert len(twice.json()["items"]) == 1
    # the caller is checked before the parameters
    anonymous = await client.get("/v1/tickets?colour=red")
    assert anonymous.status_code == 401


async def test_a_pages_size_is_written_into_its_statement(
    client: httpx.AsyncClient, agent: Member
) -> None:
    """A bound LIMIT made PostgreSQL plan the list anew at every request (its generic plan
    assumed a tenth of the matches); each page size is a statement of its own."""
    await new_ticket(client, agent)
    for limit, search in ((7, None), (3, "checkout")):
        params = {"limit": limit, **({"q": search} if search else {})}
        with statements_matching(TICKET_ROW_READ) as sent:
            response = await client.get("/v1/tickets", params=params, headers=agent.headers)
        assert response.status_code == 200
        assert len(sent) == 1
        assert re.search(rf"\bLIMIT {limit + 1}\b", sent[0]), sent[0]
        assert not re.search(r"\bLIMIT \$", sent[0])
