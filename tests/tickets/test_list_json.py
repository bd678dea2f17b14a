"""A page of the list is written straight from its rows: it must read exactly as the
ticket's own model writes it (GET /v1/tickets/{ref}), field for field and in the same order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID  # type: ignore[import-untyped]

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.tickets.schemas import TicketPage


async def test_a_page_reads_as_each_of_its_tickets_does(
    client: httpx.AsyncClient, admin: Member, agent: Member
) -> None:
    for key, kind in (("seats", "number"), ("notes", "text"), ("since", "date")):
        definition = {"key": key, "label": key.title(), "type": kind}
        created = await client.post("/v1/custom-fields", json=definition, headers=admin.headers)
        assert created.status_code == 201, created.text
    await new_ticket(client, agent, title="Plain")
    await new_ticket(
        client,
        agent,
        title="Everything set",
        description='Ünïcödé \u2028 "quoted" \\ back',
        priority="urgent",
        type="question",
        assignee_id=str(agent.user.id),
        due_at="2030-01-02T03:04:05Z",  # no fraction of a second
        custom_fields={"seats": 12.5, "notes": "a\nb", "since": "2024-02-29"},
        tags=["billing", "vip"],
    )
    resolved = await new_ticket(client, agent, title="Resolved", due_at="2030-01-02T03:04:05.5Z")
    for status in ("in_progress", "resolved"):
        changed = await client.patch(
            f"/v1/tickets/{resolved['id']}", json={"status": status}, headers=agent.headers
        )
        assert changed.status_code == 200, changed.text

    listed = await client.get("/v1/tickets", params={"limit": 2}, headers=agent.headers)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert listed.headers["ratelimit-limit"]  # the dependencies' headers are kept
    page = listed.json()
    rest = await client.get(
        "/v1/tickets", params={"cursor": page["next_cursor"]}, headers=agent.headers
    )
    items = page["items"] + rest.json()["items"]
    assert [item["title"] for item in items] == ["Resolved", "Everything set", "Plain"]
    assert rest.json()["next_cursor"] is None
    for item in items:
        alone = await client.get(f"/v1/tickets/{item['key']}", headers=agent.headers)
        assert item == alone.json()
        assert alone.headers["etag"] == f'"{item["version"]}"'
        assert alone.headers["ratelimit-limit"]
        assert list(item) == list(alone.json())  # the same order of fields too


def _row(**values: Any) -> dict[str, Any]:
    """A ticket's row as the read pool returns it: asyncpg's ids, enumerations as text."""
    now = datetime(2026, 12, 6, 14, 0, 0, 123456, tzinfo=UTC)
    return {
        "organization_id": AsyncpgUUID(str(uuid.uuid4())),
        "id": AsyncpgUUID(str(uuid.uuid4())),
        "number": 7,
        "title": "Title",
        "description": "",
        "status": "open",
        "priority": "normal",
        "type": "bug",
        "source": "api",
        "category_id": None,
        "team_id": AsyncpgUUID(str(uuid.uuid4())),
        "reporter_id": AsyncpgUUID(str(uuid.uuid4())),
        "assignee_id": None,
        "due_at": now.replace(microsecond=0),
        "resolved_at": None,
        "closed_at": None,
        "custom_fields": {"nested": {"list": [1, 2.5, None, True]}},
        "tags": ["a", "b"],
        "version": 3,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "rank": None,
        **values,
    }


def test_rows_are_written_byte_for_byte_as_the_models_write_them() -> None:
    rows = [_row(), _row(number=8, custom_fields={}, tags=[])]
    expected = TicketPage.__pydantic_serializer__.to_json(TicketPage.from_rows(rows, "next"))
    assert TicketPage.json_of_rows(rows, "next") == expected
    assert TicketPage.json_of_rows([], None) == b'{"items":[],"next_cursor":null}'


def test_a_value_orjson_refuses_is_written_by_the_models() -> None:
    huge = 2**70  # past 64 bits: orjson refuses it
    rows = [_row(custom_fields={"serial": huge})]
    written = TicketPage.json_of_rows(rows, None)
    assert written == TicketPage.__pydantic_serializer__.to_json(TicketPage.from_rows(rows, None))
    assert b'"serial":1180591620717411303424' in written
    assert orjson.loads(written)["items"][0]["id"] == str(rows[0]["id"])
