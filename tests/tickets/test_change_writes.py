"""A ticket's change writes its history rows, its outbox events and the response remembered
for its Idempotency-Key in one statement (the journal), and every one of them; a create or a
change with nothing else to do is that statement alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.routing.conftest import create_rule
from tests.support.factories import Member
from tests.support.statements import statements_matching
from tests.tickets.conftest import new_ticket
from ticketcreator.core.db import get_engine
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.tickets.models import IdempotencyKey, TicketEvent

# The statements that write history or outbox rows or remember a response.
_WRITES = re.compile("INSERT INTO (ticket_event|outbox_event|idempotency_key)")


@contextmanager
def recorded() -> Iterator[list[str]]:
    """Every statement the engine's connections send meanwhile, with their BEGIN and
    COMMIT."""
    sent: list[str] = []

    def statement(*args: Any) -> None:
        sent.append(args[2])

    def begin(_connection: Any) -> None:
        sent.append("BEGIN")

    def commit(_connection: Any) -> None:
        sent.append("COMMIT")

    engine = get_engine().sync_engine
    listeners = (("before_cursor_execute", statement), ("begin", begin), ("commit", commit))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield sent
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


async def test_create_and_change_write_their_history_and_events_in_one_statement(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    body = {"title": "Checkout button does nothing"}
    headers = {**agent.headers, "Idempotency-Key": "journal-1"}
    with statements_matching(_WRITES) as writes:
        created = await client.post("/v1/tickets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert len(writes) == 1
    assert all(each in writes[0] for each in ("ticket_event", "outbox_event", "idempotency_key"))
    replayed = await client.post("/v1/tickets", json=body, headers=headers)
    assert replayed.status_code == 201
    assert replayed.json() == ticket

    with statements_matching(_WRITES) as writes:
        response = await client.patch(
            f"/v1/tickets/{ticket['id']}",
            json={"status": "in_progress", "priority": "high"},
            headers=agent.headers,
        )
    assert response.status_code == 200, response.text
    assert len(writes) == 1
    assert "UPDATE ticket SET" in writes[0]  # the row, its history and its events together

    history = (
        await session.execute(
            select(TicketEvent.kind, TicketEvent.field, TicketEvent.old, TicketEvent.new).where(
                TicketEvent.ticket_id == ticket["id"]
            )
        )
    ).all()
    created = next(row.new for row in history if row.kind == "created")
    assert created["key"] == ticket["key"]
    assert sorted(tuple(row) for row in history if row.kind != "created") == [
        ("status_changed", "status", "open", "in_progress"),
        ("updated", "priority", "normal", "high"),
    ]
    topics = (
        await session.scalars(
            select(OutboxEvent.topic).where(OutboxEvent.payload["ticket_id"].astext == ticket["id"])
        )
    ).all()
    assert sorted(topics) == ["ticket.created", "ticket.status_changed", "ticket.updated"]


async def test_a_create_writes_everything_in_its_insert_then_commits(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    """The ticket's insert also writes its tags, history, event and remembered response, and
    nothing but the commit comes after it; each of those rows names the ticket's number."""
    headers = {**agent.headers, "Idempotency-Key": "numbered-1"}
    body = {"title": "Refund fails", "tags": ["payments", "checkout"]}
    with recorded() as sent:
        created = await client.post("/v1/tickets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    ticket = created.json()

    inserted = next(i for i, each in enumerate(sent) if "INSERT INTO ticket " in each)
    assert sent[inserted + 1 :] == ["COMMIT"]
    for table in ("ticket_tag", "ticket_event", "outbox_event", "idempotency_key"):
        assert table in sent[inserted], table

    history = await session.scalar(
        select(TicketEvent.new).where(
            TicketEvent.ticket_id == ticket["id"], TicketEvent.kind == "created"
        )
    )
    assert history == ticket
    payload = await session.scalar(
        select(OutboxEvent.payload).where(
            OutboxEvent.payload["ticket_id"].astext == ticket["id"],
            OutboxEvent.topic == "ticket.created",
        )
    )
    assert payload is not None
    assert (payload["number"], payload["key"], payload["snapshot"]) == (
        ticket["number"],
        ticket["key"],
        ticket,
    )
    remembered = await session.scalar(
        select(IdempotencyKey.response_body).where(IdempotencyKey.key == "numbered-1")
    )
    assert remembered == ticket
    assert ticket["tags"] == ["checkout", "payments"]
    fetched = await client.get(f"/v1/tickets/{ticket['key']}", headers=agent.headers)
    assert fetched.json()["tags"] == ticket["tags"]


async def test_a_create_with_nothing_else_to_do_is_one_statement_committed_on_its_own(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    """Once the caller is known (no look-up in the session) and the organization numbers
    tickets (its first number is taken in the create's transaction), a create's insert with
    its rows is its whole transaction: the session's connection sends nothing, no BEGIN or
    COMMIT, and every row is written."""
    await new_ticket(client, agent)  # the caller is cached, the organization's counter made
    headers = {**agent.headers, "Idempotency-Key": "alone-1"}
    with recorded() as sent:
        created = await client.post("/v1/tickets", json={"title": "Alone"}, headers=headers)
    assert created.status_code == 201, created.text
    assert sent == []
    ticket = created.json()
    history = await session.scalar(
        select(TicketEvent.new).where(
            TicketEvent.ticket_id == ticket["id"], TicketEvent.kind == "created"
        )
    )
    assert history == ticket
    topics = await session.scalars(
        select(OutboxEvent.topic).where(OutboxEvent.payload["ticket_id"].astext == ticket["id"])
    )
    assert list(topics) == ["ticket.created"]
    remembered = await session.scalar(
        select(IdempotencyKey.response_body).where(IdempotencyKey.key == "alone-1")
    )
    assert remembered == ticket
    replayed = await client.post("/v1/tickets", json={"title": "Alone"}, headers=headers)
    assert (replayed.json(), replayed.headers["Idempotent-Replayed"]) == (ticket, "true")


async def test_a_change_no_reaction_listens_to_is_one_statement_committed_on_its_own(
    client: httpx.AsyncClient, admin: Member, session: AsyncSession
) -> None:
    """With no rule listening to a person's changes (one listens to triage only, one to
    changes is disabled), a change is read without the ticket's lock and written, with its
    history and events, by one statement that is its own transaction: the session's
    connection sends nothing. A rule that listens takes the ticket's lock again."""
    actions = [{"type": "add_tags", "tags": ["escalated"]}]
    await create_rule(client, admin, triggers=["triaged"], actions=actions)
    listening = await create_rule(client, admin, triggers=["updated"], actions=actions)
    path = f"/v1/routing/rules/{listening['id']}"
    assert (await client.patch(path, json={"enabled": False}, headers=admin.headers)).is_success
    ticket = await new_ticket(client, admin)
    with recorded() as sent, statements_matching(re.compile("UPDATE ticket SET")) as writes:
        response = await client.patch(
            f"/v1/tickets/{ticket['id']}",
            json={"status": "in_progress", "priority": "high"},
            headers=admin.headers,
        )
    assert response.status_code == 200, response.text
    assert sent == []
    assert len(writes) == 1
    assert all(table in writes[0] for table in ("ticket_event", "outbox_event"))
    changed = response.json()
    assert (changed["status"], changed["priority"], changed["tags"]) == ("in_progress", "high", [])
    assert response.headers["ETag"] == f'"{ticket["version"] + 1}"'
    fetched = await client.get(f"/v1/tickets/{ticket['id']}", headers=admin.headers)
    assert (fetched.json(), fetched.headers["ETag"]) == (changed, response.headers["ETag"])
    history = await session.execute(
        select(TicketEvent.kind, TicketEvent.field, TicketEvent.old, TicketEvent.new).where(
            TicketEvent.ticket_id == ticket["id"], TicketEvent.kind != "created"
        )
    )
    assert sorted(tuple(row) for row in history) == [
        ("status_changed", "status", "open", "in_progress"),
        ("updated", "priority", "normal", "high"),
    ]
    topics = await session.scalars(
        select(OutboxEvent.topic).where(OutboxEvent.payload["ticket_id"].astext == ticket["id"])
    )
    assert sorted(topics) == ["ticket.created", "ticket.status_changed", "ticket.updated"]

    assert (await client.patch(path, json={"enabled": True}, headers=admin.headers)).is_success
    with recorded() as sent:
        response = await client.patch(
            f"/v1/tickets/{ticket['id']}", json={"priority": "low"}, headers=admin.headers
        )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["escalated"]
    assert any("FOR UPDATE" in each for each in sent)


async def test_a_new_title_and_description_are_searchable_once_the_one_statement_commits(
    client: httpx.AsyncClient, agent: Member
) -> None:
    """The search document is recomputed in the change's own statement: the new words find
    the ticket, the old ones no longer do, and a comment's words still do."""
    ticket = await new_ticket(client, agent)
    path = f"/v1/tickets/{ticket['id']}"
    comment = {"body": "Customer mentions flamingo colours"}
    posted = await client.post(f"{path}/comments", json=comment, headers=agent.headers)
    assert posted.status_code == 201, posted.text
    with recorded() as sent:
        response = await client.patch(
            path,
            json={"title": "Invoice totals are rounded", "description": "Penny mismatch"},
            headers=agent.headers,
        )
    assert response.status_code == 200, response.text
    assert sent == []
    await _search_finds_the_change(client, agent, ticket)


async def test_a_locked_change_of_the_title_writes_its_search_document_in_its_update(
    client: httpx.AsyncClient, admin: Member
) -> None:
    """With a rule listening to changes, a new title and description take the ticket's lock;
    the update of the row, which writes the history and events, also recomputes the search
    document, comments included, and no second statement refreshes it."""
    actions = [{"type": "add_tags", "tags": ["escalated"]}]
    await create_rule(client, admin, triggers=["updated"], actions=actions)
    ticket = await new_ticket(client, admin)
    path = f"/v1/tickets/{ticket['id']}"
    comment = {"body": "Customer mentions flamingo colours"}
    posted = await client.post(f"{path}/comments", json=comment, headers=admin.headers)
    assert posted.status_code == 201, posted.text
    searched = re.compile(r"UPDATE ticket SET .*search_vector", re.DOTALL)
    with recorded() as sent, statements_matching(searched) as writes:
        response = await client.patch(
            path,
            json={"title": "Invoice totals are rounded", "description": "Penny mismatch"},
            headers=admin.headers,
        )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["escalated"]
    assert any("FOR UPDATE" in each for each in sent)
    assert len(writes) == 1
    assert "ticket_event" in writes[0]
    await _search_finds_the_change(client, admin, ticket)


async def _search_finds_the_change(
    client: httpx.AsyncClient, member: Member, ticket: dict[str, Any]
) -> None:
    """After the tests' change of ``ticket`` (title "Invoice totals are rounded", description
    "Penny mismatch", a comment mentioning flamingos): the new words and the comment's find
    it, its old title no longer does."""

    async def found(words: str) -> list[str]:
        page = await client.get("/v1/tickets", params={"q": words}, headers=member.headers)
        assert page.status_code == 200, page.text
        return [item["id"] for item in page.json()["items"]]

    assert await found("invoice rounded") == [ticket["id"]]
    assert await found("penny") == [ticket["id"]]
    assert await found("flamingo") == [ticket["id"]]
    assert await found(ticket["title"]) == []


async def test_an_idempotency_key_out_of_bounds_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    for key, error in (("", "string_too_short"), ("k" * 256, "string_too_long")):
        headers = {**agent.headers, "Idempotency-Key": key}
        response = await client.post("/v1/tickets", json={"title": "Keyed"}, headers=headers)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [(e["location"], e["type"]) for e in response.json()["errors"]] == [
            ("header.Idempotency-Key", error)
        ]
    assert (await session.scalars(select(IdempotencyKey))).all() == []
    headers = {**agent.headers, "Idempotency-Key": "k" * 255}
    longest = await client.post("/v1/tickets", json={"title": "Keyed"}, headers=headers)
    assert longest.status_code == 201
