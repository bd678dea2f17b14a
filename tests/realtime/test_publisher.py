"""The worker side of the stream: outbox events become stream entries with the access rules
read from the database (run here in-process on the real outbox rows)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.core.outbox import OutboxEvent, message_of
from ticketcreator.realtime import bus, publisher

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def _publish_outbox(session: AsyncSession) -> list[str | None]:
    rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))).all()
    return [await publisher.publish(session, message_of(row)) for row in rows]


async def test_outbox_events_carry_who_may_see_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    reporter = await create_member(session, role=Role.REPORTER)
    agent = await create_member(session, reporter.organization, Role.AGENT)
    org_id, reporter_id, agent_id = reporter.org_id, reporter.user.id, agent.user.id
    files = {"file": ("shot.png", PNG, "image/png")}
    attachment = (
        await client.post("/v1/attachments", headers=reporter.headers, files=files)
    ).json()
    capture = await client.post(
        "/v1/captures",
        headers=reporter.headers,
        json={
            "kind": "screenshot",
            "attachment_ids": [attachment["id"]],
            "page_url": "https://app.example.com/billing",
            "ticket": {"title": "Blank invoice page"},
        },
    )
    assert capture.status_code == 201, capture.text
    ticket_id = capture.json()["ticket_id"]
    watched = await client.put(
        f"/v1/tickets/{ticket_id}/watchers/{agent_id}", headers=agent.headers
    )
    assert watched.status_code in (200, 201, 204), watched.text
    note = await client.post(
        f"/v1/tickets/{ticket_id}/comments",
        headers=agent.headers,
        json={"body": "internal", "internal": True},
    )
    assert note.status_code == 201

    published = await _publish_outbox(session)
    assert any(published)
    entries = [entry async for entry in bus.replay(org_id, "0-0")]
    by_type: dict[str, Any] = {}
    for entry in entries:
        by_type.setdefault(entry.type, entry)
    uploaded = by_type["attachment.uploaded"]
    assert uploaded.access.owner_id == reporter_id
    assert uploaded.access.permission is Permission.ATTACHMENTS_READ
    # Published after the capture: the attachment belongs to the reporter's ticket.
    assert uploaded.access.ticket_ids == {uuid.UUID(ticket_id)}
    commented = by_type["ticket.commented"]
    assert commented.access.internal is True
    [people] = commented.access.tickets
    assert people.reporter_id == reporter_id
    assert people.involved == {reporter_id, agent_id}  # reporter and watcher
    assert f'"id":"{commented.id}"' in commented.body


async def test_events_without_a_visible_subject_are_not_streamed(session: AsyncSession) -> None:
    member = await create_member(session, role=Role.ADMIN)
    base = {"id": str(uuid.uuid4()), "occurred_at": "2026-12-03T00:00:00+00:00"}
    org = str(member.org_id)
    missing = str(uuid.uuid4())
    for topic, payload, organization in [
        ("invitation.created", {"invitation_id": missing}, org),  # never streamed
        ("attachment.ready", {"attachment_id": missing}, org),  # gone
        ("upload.progress", {"upload_id": missing}, org),  # gone
        ("ticket.triaged", {"ticket_id": missing}, None),  # no organization to put it in
    ]:
        message = {**base, "topic": topic, "payload": payload, "organization_id": organization}
        assert await publisher.publish(session, message) is None, topic

    # A purged ticket is gone; its snapshot still names who was involved.
    reporter, assignee = uuid.uuid4(), uuid.uuid4()
    purged = {
        **base,
        "topic": "ticket.purged",
        "organization_id": org,
        "payload": {
            "ticket_id": missing,
            "snapshot": {"reporter_id": str(reporter), "assignee_id": str(assignee)},
        },
    }
    stream_id = await publisher.publish(session, purged)
    assert stream_id is not None
    [entry] = [e async for e in bus.replay(member.org_id, "0-0")]
    [people] = entry.access.tickets
    assert people.reporter_id == reporter
    assert people.involved == {reporter, assignee}
