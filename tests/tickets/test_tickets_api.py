from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from tests.tickets.conftest import new_ticket
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.tickets.models import TicketEvent


async def _topics(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.created_at))
    return list(rows)


async def test_create_numbers_tickets_and_records_the_event(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/tickets",
        json={
            "title": "  Login fails  ",
            "description": "The page reloads",
            "priority": "high",
            "type": "incident",
            "source": "extension",
            "tags": ["Login", "auth"],
        },
        headers=agent.headers,
    )
    assert response.status_code == 201
    ticket = response.json()
    assert ticket["number"] == 1
    assert ticket["key"] == "T-1"
    assert ticket["title"] == "Login fails"
    assert ticket["status"] == "open"
    assert ticket["reporter_id"] == str(agent.user.id)
    assert ticket["tags"] == ["auth", "login"]
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/tickets/{ticket['id']}"
    second = await new_ticket(client, agent)
    assert second["key"] == "T-2"
    events = (await session.scalars(select(TicketEvent.kind))).all()
    assert sorted(events) == ["created", "created"]
    assert await _topics(session) == ["ticket.created", "ticket.created"]


async def test_get_by_id_key_or_number_with_etag(client: httpx.AsyncClient, agent: Member) -> None:
    ticket = await new_ticket(client, agent)
    for ref in (ticket["id"], "T-1", "t-1", "1"):
        response = await client.get(f"/v1/tickets/{ref}", headers=agent.headers)
        assert response.status_code == 200, ref
        assert response.json()["id"] == ticket["id"]
        assert response.headers["ETag"] == '"1"'
    cached = await client.get(
        f"/v1/tickets/{ticket['id']}", headers={**agent.headers, "If-None-Match": '"1"'}
    )
    assert cached.status_code == 304
    assert (cached.headers["etag"], cached.content) == ('"1"', b"")
    # The request counted against the caller's budget, as every answer says once
    for answer in (cached, response):
        assert len(answer.headers.get_list("ratelimit-remaining")) == 1
    for missing in ("T-2", "0", "abc", str(uuid.uuid4()), "T-99999999999"):
        response = await client.get(f"/v1/tickets/{missing}", headers=agent.headers)
        assert response.status_code == 404, missing
        assert response.json()["type"].endswith("/not-found")


async def test_get_and_list_show_the_ticket_as_created(
    client: httpx.AsyncClient, agent: Member, admin: Member
) -> None:
    created = await new_ticket(
        client,
        agent,
        description="Spinner forever",
        priority="urgent",
        type="incident",
        assignee_id=str(admin.user.id),
        due_at="2031-05-04T03:02:01+00:00",
        # in code point order, whatever the database's collation: a < a_z < b-2 < b1 < ä
        tags=["Ä", "b1", "A_z", "b-2", "a"],
    )
    assert created["tags"] == ["a", "a_z", "b-2", "b1", "ä"]
    other = await new_ticket(client, agent, title="No tags")
    got = await client.get(f"/v1/tickets/{created['key']}", headers=agent.headers)
    assert got.json() == created
    listed = (await client.get("/v1/tickets", headers=agent.headers)).json()["items"]
    assert listed == [other, created]
    assert other["tags"] == []
    assert other["custom_fields"] == {}


async def test_create_validates_references(client: httpx.AsyncClient, agent: Member) -> None:
    for field in ("category_id", "team_id"):
        response = await client.post(
            "/v1/tickets", json={"title": "x", field: str(uuid.uuid4())}, headers=agent.headers
        )
        assert response.status_code == 422
        assert response.json()["type"].endswith("/invalid-reference")
    response = await client.post(
        "/v1/tickets", json={"title": "x", "reporter_id": str(uuid.uuid4())}, headers=agent.headers
    )
    assert response.json()["type"].endswith("/invalid-reference")
    response = await client.post("/v1/tickets", json={"title": ""}, headers=agent.headers)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")


async def test_agents_report_on_behalf_of_members(
    client: httpx.AsyncClient, agent: Member, reporter: Member
) -> None:
    ticket = await new_ticket(client, agent, reporter_id=str(reporter.user.id))
    assert ticket["reporter_id"] == str(reporter.user.id)
    response = await client.get(f"/v1/tickets/{ticket['id']}", headers=reporter.headers)
    assert response.status_code == 200


async def test_patch_changes_fields_bumps_the_version_and_records_each_change(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}"
    response = await client.patch(
        url,
        json={"title": "New title", "priority": "urgent", "due_at": "2030-01-01T00:00:00Z"},
        headers={**agent.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "New title"
    assert updated["priority"] == "urgent"
    assert updated["version"] == 2
    assert response.headers["ETag"] == '"2"'
    rows = (
        await session.execute(select(TicketEvent.field, TicketEvent.old, TicketEvent.new))
    ).all()
    changes = {row.field: (row.old, row.new) for row in rows if row.field}
    assert changes["title"] == ("Checkout button does nothing", "New title")
    assert changes["priority"] == ("normal", "urgent")
    assert "ticket.updated" in await _topics(session)
    same = await client.patch(url, json={"title": "New title"}, headers=agent.headers)
    assert same.json()["version"] == 2
    null_title = await client.patch(url, json={"title": None}, headers=agent.headers)
    assert null_title.status_code == 422
    cleared = await client.patch(url, json={"due_at": None}, headers=agent.headers)
    assert cleared.json()["due_at"] is None


async def test_a_stale_if_match_is_412(client: httpx.AsyncClient, agent: Member) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}"
    first = await client.patch(
        url, json={"priority": "high"}, headers={**agent.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    stale = await client.patch(
        url, json={"priority": "low"}, headers={**agent.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["type"].endswith("/stale-version")
    assert stale.json()["current_etag"] == '"2"'
    star = await client.patch(
        url, json={"priority": "low"}, headers={**agent.headers, "If-Match": "*"}
    )
    assert star.status_code == 200
    stale_delete = await client.delete(url, headers={**agent.headers, "If-Match": '"1"'})
    assert stale_delete.status_code == 412


async def test_soft_delete_restore_and_purge(
    client: httpx.AsyncClient, agent: Member, admin: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}"
    assert (await client.delete(url, headers=agent.headers)).status_code == 204
    assert (await client.get(url, headers=agent.headers)).status_code == 404
    listed = (await client.get("/v1/tickets", headers=agent.headers)).json()
    assert listed["items"] == []
    trash = (await client.get("/v1/tickets?deleted=true", headers=agent.headers)).json()
    assert [t["id"] for t in trash["items"]] == [ticket["id"]]
    restored = await client.post(f"{url}/restore", headers=agent.headers)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert (await client.post(f"{url}/restore", headers=agent.headers)).status_code == 404
    assert (await client.delete(f"{url}/permanent", headers=agent.headers)).status_code == 403
    assert (await client.delete(f"{url}/permanent", headers=admin.headers)).status_code == 204
    assert (await client.get(url, headers=admin.headers)).status_code == 404
    assert await session.scalar(select(func.count()).select_from(TicketEvent)) == 0
    topics = await _topics(session)
    assert {"ticket.deleted", "ticket.restored", "ticket.purged"} <= set(topics)


async def test_assign_and_unassign(
    client: httpx.AsyncClient, agent: Member, admin: Member, reporter: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}/assignee"
    response = await client.put(
        url, json={"assignee_id": str(admin.user.id)}, headers=agent.headers
    )
    assert response.status_code == 200
    assert response.json()["assignee_id"] == str(admin.user.id)
    for nobody in (reporter.user.id, uuid.uuid4()):
        refused = await client.put(url, json={"assignee_id": str(nobody)}, headers=agent.headers)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/invalid-assignee")
    response = await client.delete(url, headers=agent.headers)
    assert response.json()["assignee_id"] is None
    kinds = (await session.scalars(select(TicketEvent.kind))).all()
    assert kinds.count("assigned") == 2
    assert (await _topics(session)).count("ticket.assigned") == 2


async def test_tags_add_and_remove(client: httpx.AsyncClient, agent: Member) -> None:
    ticket = await new_ticket(client, agent, tags=["ui"])
    url = f"/v1/tickets/{ticket['id']}/tags"
    added = await client.post(url, json={"tags": ["Payments", "ui"]}, headers=agent.headers)
    assert added.json()["tags"] == ["payments", "ui"]
    assert added.json()["version"] == 2
    removed = await client.delete(f"{url}/ui", headers=agent.headers)
    assert removed.json()["tags"] == ["payments"]
    again = await client.delete(f"{url}/ui", headers=agent.headers)
    assert again.json()["version"] == 3
    tags = (await client.get("/v1/tags?prefix=pay", headers=agent.headers)).json()
    assert [t["name"] for t in tags] == ["payments"]


async def test_comments_crud(
    client: httpx.AsyncClient, agent: Member, admin: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}/comments"
    public = await client.post(url, json={"body": "Looking into it"}, headers=agent.headers)
    assert public.status_code == 201
    comment = public.json()
    assert comment["author_id"] == str(agent.user.id)
    internal = await client.post(
        url, json={"body": "Probably the CDN", "internal": True}, headers=agent.headers
    )
    assert internal.json()["internal"] is True
    edited = await client.patch(
        f"{url}/{comment['id']}", json={"body": "Fixing it"}, headers=agent.headers
    )
    assert edited.status_code == 200
    assert edited.json()["edited_at"] is not None
    not_author = await client.patch(
        f"{url}/{comment['id']}", json={"body": "Hijack"}, headers=admin.headers
    )
    assert not_author.status_code == 403
    listed = (await client.get(url, params={"limit": 1}, headers=agent.headers)).json()
    assert [c["body"] for c in listed["items"]] == ["Fixing it"]
    rest = (
        await client.get(url, params={"cursor": listed["next_cursor"]}, headers=agent.headers)
    ).json()
    assert [c["body"] for c in rest["items"]] == ["Probably the CDN"]
    assert rest["next_cursor"] is None
    assert (await client.delete(f"{url}/{comment['id']}", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{url}/{comment['id']}", headers=admin.headers)).status_code == 404
    remaining = (await client.get(url, headers=agent.headers)).json()["items"]
    assert len(remaining) == 1
    topics = set(await _topics(session))
    assert {"ticket.commented", "ticket.comment_updated", "ticket.comment_deleted"} <= topics
    bad_cursor = await client.get(url, params={"cursor": "not-a-cursor"}, headers=agent.headers)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["type"].endswith("/invalid-cursor")


async def test_timeline_merges_events_and_comments_in_order(
    client: httpx.AsyncClient, agent: Member
) -> None:
    ticket = await new_ticket(client, agent)
    base = f"/v1/tickets/{ticket['id']}"
    await client.post(f"{base}/comments", json={"body": "First"}, headers=agent.headers)
    await client.patch(base, json={"status": "in_progress"}, headers=agent.headers)
    await client.post(f"{base}/comments", json={"body": "Second"}, headers=agent.headers)
    page = (await client.get(f"{base}/timeline", params={"limit": 3}, headers=agent.headers)).json()
    rest = (
        await client.get(
            f"{base}/timeline", params={"cursor": page["next_cursor"]}, headers=agent.headers
        )
    ).json()
    items = page["items"] + rest["items"]
    described = [
        item["event"]["kind"] if item["type"] == "event" else item["comment"]["body"]
        for item in items
    ]
    assert described == ["created", "First", "status_changed", "Second"]
    assert rest["next_cursor"] is None


async def test_watchers(
    client: httpx.AsyncClient, agent: Member, admin: Member, reporter: Member
) -> None:
    ticket = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}/watchers"
    added = await client.put(f"{url}/{admin.user.id}", headers=agent.headers)
    assert [w["user_id"] for w in added.json()] == [str(admin.user.id)]
    again = await client.put(f"{url}/{admin.user.id}", headers=agent.headers)
    assert len(again.json()) == 1
    other_reporter = await client.put(f"{url}/{reporter.user.id}", headers=agent.headers)
    assert other_reporter.status_code == 422
    assert other_reporter.json()["type"].endswith("/invalid-watcher")
    assert len((await client.get(url, headers=agent.headers)).json()) == 1
    assert (await client.delete(f"{url}/{admin.user.id}", headers=agent.headers)).status_code == 204
    assert (await client.delete(f"{url}/{admin.user.id}", headers=agent.headers)).status_code == 404


async def test_external_links(
    client: httpx.AsyncClient, agent: Member, session: AsyncSession
) -> None:
    ticket = await new_ticket(client, agent)
    other = await new_ticket(client, agent)
    url = f"/v1/tickets/{ticket['id']}/links"
    link = {
        "provider": "jira",
        "external_id": "OPS-12",
        "url": "https://acme.atlassian.net/browse/OPS-12",
    }
    created = await client.post(url, json=link, headers=agent.headers)
    assert created.status_code == 201
    taken = await client.post(f"/v1/tickets/{other['id']}/links", json=link, headers=agent.headers)
    assert taken.status_code == 409
    assert taken.json()["ticket_id"] == ticket["id"]
    assert [x["external_id"] for x in (await client.get(url, headers=agent.headers)).json()] == [
        "OPS-12"
    ]
    link_url = f"{url}/{created.json()['id']}"
    assert (await client.delete(link_url, headers=agent.headers)).status_code == 204
    assert (await client.delete(link_url, headers=agent.headers)).status_code == 404
    assert {"ticket.linked", "ticket.unlinked"} <= set(await _topics(session))


async def test_bulk_update_applies_all(
    client: httpx.AsyncClient, agent: Member, admin: Member
) -> None:
    tickets = [await new_ticket(client, agent) for _ in range(3)]
    response = await client.post(
        "/v1/tickets/bulk",
        json={
            "tickets": [tickets[0]["id"], "T-2", "3"],
            "changes": {
                "priority": "high",
                "assignee_id": str(admin.user.id),
                "add_tags": ["triaged"],
            },
        },
        headers=agent.headers,
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [t["number"] for t in items] == [1, 2, 3]
    assert all(t["priority"] == "high" and t["tags"] == ["triaged"] for t in items)


async def test_bulk_update_is_all_or_nothing(client: httpx.AsyncClient, agent: Member) -> None:
    first = await new_ticket(client, agent)
    second = await new_ticket(client, agent)
    await client.patch(
        f"/v1/tickets/{second['id']}", json={"status": "resolved"}, headers=agent.headers
    )
    response = await client.post(
        "/v1/tickets/bulk",
        json={"tickets": ["T-1", "T-2", "T-77", "nope"], "changes": {"status": "waiting"}},
        headers=agent.headers,
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/bulk-update-failed")
    by_ticket = {e["ticket"]: e for e in problem["errors"]}
    assert set(by_ticket) == {"T-2", "T-77", "nope"}
    assert by_ticket["T-2"]["status"] == 409
    assert by_ticket["T-2"]["allowed"] == ["closed", "open"]
    assert by_ticket["T-77"]["status"] == 404
    unchanged = (await client.get(f"/v1/tickets/{first['id']}", headers=agent.headers)).json()
    assert unchanged["status"] == "open"
    assert unchanged["version"] == 1
    too_many = await client.post(
        "/v1/tickets/bulk",
        json={"tickets": [str(n) for n in range(1, 102)], "changes": {"priority": "low"}},
        headers=agent.headers,
    )
    assert too_many.status_code == 422
