"""Permanent deletion takes everything derived from the ticket with it: its captures' files
(originals and derivatives, in storage too), their transcripts and screenshot text, AI
decisions and embeddings, and the personal content of its events."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.captures.support import capture_body, settle, upload
from tests.support.factories import create_member
from tests.support.polling import wait_for, waiting_on_a_lock
from tests.support.services import Worker
from tests.uploads.helpers import png
from ticketcreator.accounts.permissions import Role
from ticketcreator.ai.triage.models import AIDecision, TicketEmbedding
from ticketcreator.attachments import service as attachments
from ticketcreator.attachments.models import Attachment
from ticketcreator.captures.models import Capture
from ticketcreator.core.db import session_factory
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.storage import ObjectNotFound, get_storage
from ticketcreator.tickets.models import IdempotencyKey
from ticketcreator.transcripts.models import AttachmentText, TextSource

PERSONAL = "Jane Roe"


async def _ready(session: AsyncSession, attachment_id: str) -> Attachment | None:
    attachment = await session.get(Attachment, uuid.UUID(attachment_id), populate_existing=True)
    await session.commit()
    if attachment is None or attachment.processing_status != "ready":
        return None
    return attachment


async def _text(session: AsyncSession, attachment_id: str) -> AttachmentText | None:
    found = await session.get(
        AttachmentText, (uuid.UUID(attachment_id), TextSource.OCR), populate_existing=True
    )
    if found is None:
        await session.commit()
    return found


async def _stored(keys: list[str]) -> list[str]:
    present = []
    for key in keys:
        try:
            await get_storage().size(key)
            present.append(key)
        except ObjectNotFound:
            pass
    return present


async def _count(session: AsyncSession, model: Any, *conditions: Any) -> int:
    value = await session.scalar(select(func.count()).select_from(model).where(*conditions))
    await session.commit()
    return int(value or 0)


async def test_purge_removes_files_texts_and_event_content(
    client: httpx.AsyncClient, session: AsyncSession, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    reporter = await create_member(session, admin.organization, Role.REPORTER)
    shot = await upload(client, reporter.headers, f"{PERSONAL} payslip.png", png(), "image/png")
    shared = await upload(client, admin.headers, "logo.png", png(), "image/png")
    captured = await client.post(
        "/v1/captures",
        headers={**reporter.headers, "Idempotency-Key": "capture-1"},
        json=capture_body(
            [shot["id"]],
            kind="screenshot",
            description=f"The payslip of {PERSONAL} shows the wrong salary.",
            ticket={"title": f"Payslip of {PERSONAL} is wrong"},
        ),
    )
    assert captured.status_code == 201, captured.text
    ticket_id = captured.json()["ticket_id"]
    other = await client.post(
        "/v1/tickets", json={"title": "Logo is blurry"}, headers=admin.headers
    )
    for ticket, attachment in ((ticket_id, shared), (other.json()["id"], shared)):
        added = await client.post(
            "/v1/captures",
            headers=admin.headers,
            json=capture_body([attachment["id"]], kind="screenshot", ticket=None, ticket_id=ticket),
        )
        assert added.status_code == 201, added.text
    await client.post(
        f"/v1/tickets/{ticket_id}/comments",
        json={"body": f"{PERSONAL} is on leave until May."},
        headers=admin.headers,
    )
    processed = await wait_for(lambda: _ready(session, shot["id"]), what="processing", timeout=240)
    assert processed.derivatives, "the screenshot got a thumbnail"
    keys = [processed.storage_key, *(d["key"] for d in processed.derivatives.values())]
    shared_key = (await wait_for(lambda: _ready(session, shared["id"]), timeout=240)).storage_key
    await wait_for(
        lambda: _count(session, AIDecision, AIDecision.ticket_id == uuid.UUID(ticket_id)) or None,
        what="triage",
        timeout=240,
    )
    # The worker reads the screenshot; what it read is made personal here.
    read = await wait_for(lambda: _text(session, shot["id"]), what="screenshot text", timeout=240)
    read.text = f"Payslip {PERSONAL} 7,400 EUR"
    await session.commit()
    signed = await client.post(
        f"/v1/attachments/{shot['id']}/signed-urls", json={}, headers=admin.headers
    )
    link = signed.json()["url"].removeprefix("http://localhost:8000")
    assert (await client.get(link)).status_code == 200
    assert await _stored(keys) == keys

    purged = await client.delete(f"/v1/tickets/{ticket_id}/permanent", headers=admin.headers)
    assert purged.status_code == 204

    for path in ("", "/content", "/ocr", "/derivatives/thumbnail"):
        response = await client.get(f"/v1/attachments/{shot['id']}{path}", headers=admin.headers)
        assert response.status_code == 404, path
    assert (await client.get(link)).status_code == 404
    shot_id = uuid.UUID(shot["id"])
    assert await _count(session, Attachment, Attachment.id == shot_id) == 0
    assert await _count(session, AttachmentText, AttachmentText.attachment_id == shot_id) == 0
    assert await _count(session, Capture, Capture.ticket_id == uuid.UUID(ticket_id)) == 0
    assert await _count(session, AIDecision, AIDecision.ticket_id == uuid.UUID(ticket_id)) == 0
    gone = TicketEmbedding.ticket_id == uuid.UUID(ticket_id)
    assert await _count(session, TicketEmbedding, gone) == 0
    # A file also used on another ticket stays with that ticket.
    kept = await client.get(f"/v1/attachments/{shared['id']}/content", headers=admin.headers)
    assert kept.status_code == 200
    # Nothing personal is left in events or stored responses.
    events = (await session.scalars(select(OutboxEvent))).all()
    replies = (await session.scalars(select(IdempotencyKey))).all()
    await session.commit()
    assert "ticket.purged" in {event.topic for event in events}
    for row in [*(e.payload for e in events), *(r.response_body for r in replies)]:
        assert PERSONAL not in json.dumps(row)
        assert "payslip" not in json.dumps(row).lower()
    # The files go from storage too, derivatives included (a task on the worker).
    await wait_for(lambda: _gone(keys), what="stored files removed", timeout=240)
    assert await attachments.erase_files(get_storage(), admin.org_id, [shot_id]) == 0
    assert await _stored([shared_key]) == [shared_key]
    await settle(session)


async def _gone(keys: list[str]) -> bool | None:
    return True if not await _stored(keys) else None


async def test_a_purge_the_database_picks_to_end_a_deadlock_is_run_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A worker holds a comment and then wants the ticket; the purge holds the ticket and
    then wants the comment. PostgreSQL ends the deadlock by failing the purge, which the API
    runs again once the worker is through: the client sees the ticket purged, not an error."""
    admin = await create_member(session, role=Role.ADMIN)
    created = await client.post(
        "/v1/tickets", json={"title": "Export hangs"}, headers=admin.headers
    )
    ticket_id = created.json()["id"]
    commented = await client.post(
        f"/v1/tickets/{ticket_id}/comments", json={"body": "Still hangs."}, headers=admin.headers
    )
    key = {"ticket": uuid.UUID(ticket_id), "comment": uuid.UUID(commented.json()["id"])}
    async with session_factory()() as worker:
        await worker.execute(
            text("SELECT 1 FROM ticket_comment WHERE id = :comment FOR UPDATE"), key
        )
        purge = asyncio.create_task(
            client.delete(f"/v1/tickets/{ticket_id}/permanent", headers=admin.headers)
        )
        await wait_for(lambda: waiting_on_a_lock(session), what="the purge waits", timeout=30)
        await worker.execute(text("SELECT 1 FROM ticket WHERE id = :ticket FOR UPDATE"), key)
        await worker.execute(
            text("UPDATE ticket_comment SET body = 'Hangs on Fridays.' WHERE id = :comment"), key
        )
        await worker.commit()
        purged = await purge
    assert purged.status_code == 204, purged.text
    gone = await client.get(f"/v1/tickets/{ticket_id}", headers=admin.headers)
    assert gone.status_code == 404


async def test_a_ticket_in_the_trash_can_be_purged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Purging takes a live ticket or one already in the trash."""
    admin = await create_member(session, role=Role.ADMIN)
    created = await client.post("/v1/tickets", json={"title": "Old export"}, headers=admin.headers)
    ticket_id = created.json()["id"]
    trashed = await client.delete(f"/v1/tickets/{ticket_id}", headers=admin.headers)
    assert trashed.status_code == 204, trashed.text

    purged = await client.delete(f"/v1/tickets/{ticket_id}/permanent", headers=admin.headers)

    assert purged.status_code == 204, purged.text
    restored = await client.post(f"/v1/tickets/{ticket_id}/restore", headers=admin.headers)
    assert restored.status_code == 404
