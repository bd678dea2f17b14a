"""Relevance search ranks a bounded window of the newest matches (tickets.search_candidates)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.core.config import get_settings
from ticketcreator.core.pagination import decode_cursor, encode_cursor


@pytest.fixture
def window_of_three(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TC_TICKETS__SEARCH_CANDIDATES", "3")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("TC_TICKETS__SEARCH_CANDIDATES")
    get_settings.cache_clear()


async def _page(client: httpx.AsyncClient, member: Member, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/tickets", params=params, headers=member.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _pages(
    client: httpx.AsyncClient, member: Member, between: Any = None, **params: Any
) -> list[str]:
    """Every page's ids in order; ``between`` runs after the first page."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await _page(client, member, **params, **({"cursor": cursor} if cursor else {}))
        ids += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
        if between is not None:
            await between()
            between = None


async def _matches(client: httpx.AsyncClient, member: Member) -> list[dict[str, Any]]:
    """Five matches of "payment", oldest first; the older ones rank higher (title hits)."""
    return [
        await new_ticket(client, member, title="Payment payment fails", description="payment"),
        await new_ticket(client, member, title="Payment fails"),
        await new_ticket(client, member, title="Cart", description="payment then payment"),
        await new_ticket(client, member, title="Slow", description="the payment"),
        await new_ticket(client, member, title="Login", description="a payment and more words"),
    ]


@pytest.mark.usefixtures("window_of_three")
async def test_relevance_ranks_only_the_newest_matches(
    client: httpx.AsyncClient, agent: Member
) -> None:
    tickets = await _matches(client, agent)
    await new_ticket(client, agent, title="Unrelated")
    newest = {t["id"] for t in tickets[-3:]}
    page = await _page(client, agent, q="payment")
    assert {t["id"] for t in page["items"]} == newest
    assert page["next_cursor"] is None
    ranked = [t["id"] for t in page["items"]]
    assert ranked[0] == tickets[2]["id"]  # the best match among the three
    assert await _pages(client, agent, q="payment", limit=1) == ranked
    assert await _pages(client, agent, q="payment", sort="relevance", limit=2) == ranked[::-1]
    # the other sorts still see every match
    assert len(await _pages(client, agent, q="payment", sort="-created_at", limit=2)) == 5


@pytest.mark.usefixtures("window_of_three")
async def test_pages_keep_their_window_while_tickets_are_created(
    client: httpx.AsyncClient, agent: Member
) -> None:
    tickets = await _matches(client, agent)
    expected = (await _page(client, agent, q="payment"))["items"]

    async def create_better_matches() -> None:
        for _ in range(2):
            await new_ticket(client, agent, title="Payment payment payment")

    paged = await _pages(client, agent, between=create_better_matches, q="payment", limit=1)
    assert paged == [t["id"] for t in expected]
    assert len(set(paged)) == 3
    assert tickets[0]["id"] not in paged
    # a new search sees a new window: the newest three matches
    fresh = await _page(client, agent, q="payment")
    assert len(fresh["items"]) == 3
    assert tickets[-1]["id"] in [t["id"] for t in fresh["items"]]


@pytest.mark.usefixtures("window_of_three")
async def test_window_counts_only_visible_filtered_matches(
    client: httpx.AsyncClient, agent: Member, outsider: Member
) -> None:
    old_high = await new_ticket(client, agent, title="Payment fails", priority="high")
    mine = [await new_ticket(client, agent, title="Payment fails") for _ in range(2)]
    for _ in range(4):  # newer matches of another organization and of another priority
        await new_ticket(client, outsider, title="Payment fails")
        await new_ticket(client, agent, title="Payment fails", priority="low")
    high = await _page(client, agent, q="payment", priority="high")
    assert [t["id"] for t in high["items"]] == [old_high["id"]]
    normal = await _page(client, agent, q="payment", priority="normal")
    assert {t["id"] for t in normal["items"]} == {t["id"] for t in mine}
    theirs = await _pages(client, outsider, q="payment", limit=2)
    assert len(theirs) == 3
    assert not {old_high["id"], *(t["id"] for t in mine)} & set(theirs)


async def test_relevance_cursor_window_is_validated(
    client: httpx.AsyncClient, agent: Member
) -> None:
    for _ in range(3):
        await new_ticket(client, agent, title="Payment fails")
    page = await _page(client, agent, q="payment", limit=1)
    position = decode_cursor(page["next_cursor"])
    assert len(position["w"]) == 2

    for bad in (["x"], "2030-01-01", [1, 2], ["2030-01-01T00:00:00", position["w"][1]]):
        response = await client.get(
            "/v1/tickets",
            params={"q": "payment", "limit": 1, "cursor": encode_cursor({**position, "w": bad})},
            headers=agent.headers,
        )
        assert response.status_code == 422, bad
        assert response.json()["type"].endswith("/invalid-cursor")
    # a cursor without a window (issued before windows existed) ranks a fresh window
    legacy = {k: v for k, v in position.items() if k != "w"}
    rest = await _page(client, agent, q="payment", limit=5, cursor=encode_cursor(legacy))
    assert len(rest["items"]) == 2
