"""Media processing: probe, poster, thumbnail, audio; states and events; the real worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.services import Worker
from tests.uploads.helpers import create_upload, patch, png, webm_like
from ticketcreator.attachments import processing
from ticketcreator.attachments.models import Attachment
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.storage import get_storage


async def upload_recording(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes
) -> uuid.UUID:
    location = await create_upload(client, headers, len(data), filename="tab.webm")
    half = len(data) // 2
    assert (await patch(client, headers, location, 0, data[:half])).status_code == 204
    assert (await patch(client, headers, location, half, data[half:])).status_code == 204
    return uuid.UUID(location.rsplit("/", 1)[-1])


async def run_pipeline(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment:
    """What the two media subscribers do, in this process."""
    await processing.start(session, attachment_id)
    await session.commit()
    await processing.process(session, get_storage(), attachment_id)
    await session.commit()
    attachment = await session.get(Attachment, attachment_id, populate_existing=True)
    assert attachment is not None
    return attachment


async def topics(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(OutboxEvent.topic)
        .where(OutboxEvent.topic.startswith("attachment."))
        .order_by(OutboxEvent.created_at)
    )
    return list(rows.all())


async def test_recording_is_probed_and_gets_poster_thumbnail_and_audio(
    client: httpx.AsyncClient, session: AsyncSession, recording: Path
) -> None:
    member = await create_member(session)
    attachment_id = await upload_recording(client, member.headers, recording.read_bytes())
    attachment = await run_pipeline(session, attachment_id)
    assert attachment.processing_status == "ready"
    assert await topics(session) == [
        "attachment.uploaded", "attachment.processing", "attachment.ready",
    ]  # fmt: skip

    body = (await client.get(f"/v1/attachments/{attachment_id}", headers=member.headers)).json()
    media = body["media"]
    assert media["video_codec"] == "vp9"
    assert media["audio_codec"] == "opus"
    assert (media["width"], media["height"]) == (320, 240)
    assert 1.5 < media["duration_s"] < 2.5
    names = {d["name"]: d for d in body["derivatives"]}
    assert set(names) == {"poster", "thumbnail", "audio"}
    poster = await client.get(names["poster"]["url"], headers=member.headers)
    assert poster.status_code == 200
    assert poster.content[:3] == b"\xff\xd8\xff"
    assert poster.headers["content-type"] == "image/jpeg"
    audio = await client.get(names["audio"]["url"], headers=member.headers)
    assert audio.content[:4] == b"RIFF"
    assert int.from_bytes(audio.content[24:28], "little") == 16_000  # sample rate
    assert int.from_bytes(audio.content[22:24], "little") == 1  # mono

    # Redelivered events change nothing.
    await processing.start(session, attachment_id)
    await processing.process(session, get_storage(), attachment_id)
    assert len(await topics(session)) == 3


async def test_screenshot_gets_a_thumbnail(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("shot.png", png(800, 600), "image/png")},
    )
    attachment = await run_pipeline(session, uuid.UUID(response.json()["id"]))
    assert attachment.processing_status == "ready"
    assert attachment.media == {"image_format": "PNG", "width": 800, "height": 600}
    assert attachment.derivatives["thumbnail"]["width"] == 320


async def test_logs_are_ready_without_derivatives(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("console.log", b"TypeError: x is undefined\n", "text/plain")},
    )
    attachment = await run_pipeline(session, uuid.UUID(response.json()["id"]))
    assert attachment.processing_status == "ready"
    assert attachment.derivatives == {}


async def test_broken_recording_fails_with_a_reason(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    attachment_id = await upload_recording(client, member.headers, webm_like(30_000))
    attachment = await run_pipeline(session, attachment_id)
    assert attachment.processing_status == "failed"
    assert attachment.processing_error
    body = (await client.get(f"/v1/attachments/{attachment_id}", headers=member.headers)).json()
    assert body["processing"]["status"] == "failed"
    assert body["processing"]["error"] == attachment.processing_error
    assert (await topics(session))[-1] == "attachment.failed"


async def test_missing_file_fails(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("shot.png", png(), "image/png")},
    )
    attachment_id = uuid.UUID(response.json()["id"])
    attachment = await session.get(Attachment, attachment_id)
    assert attachment is not None
    await get_storage().delete(attachment.storage_key)
    attachment = await run_pipeline(session, attachment_id)
    assert attachment.processing_status == "failed"
    assert attachment.processing_error == "The uploaded file is missing from storage."


async def test_worker_processes_a_real_recording(
    client: httpx.AsyncClient, session: AsyncSession, recording: Path, celery_worker: Worker
) -> None:
    member = await create_member(session)
    attachment_id = await upload_recording(client, member.headers, recording.read_bytes())
    deadline = time.monotonic() + 120
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/attachments/{attachment_id}", headers=member.headers)
        body = response.json()
        if body["processing"]["status"] in {"ready", "failed"}:  # type: ignore[index]
            break
        await asyncio.sleep(0.5)
    assert body["processing"]["status"] == "ready", body  # type: ignore[index]
    assert body["media"]["video_codec"] == "vp9"  # type: ignore[index]
    names = {d["name"] for d in body["derivatives"]}  # type: ignore[attr-defined]
    assert {"poster", "thumbnail", "audio"} <= names
    poster = await client.get(
        f"/v1/attachments/{attachment_id}/derivatives/poster", headers=member.headers
    )
    assert poster.content[:3] == b"\xff\xd8\xff"
    assert {"attachment.processing", "attachment.ready"} <= set(await topics(session))
