"""From upload to searchable ticket text, through the real worker: transcripts of
recordings, text of screenshots, captions, and the organization's switch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.captures.support import SENTENCE, capture_body, upload
from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.models import Organization
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


async def _member(session: AsyncSession, settings: dict[str, Any]) -> Member:
    member = await create_member(session)
    await session.execute(
        update(Organization).where(Organization.id == member.org_id).values(settings=settings)
    )
    await session.commit()
    return member


async def _text(
    client: httpx.AsyncClient, member: Member, attachment_id: str, path: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await client.get(
            f"/v1/attachments/{attachment_id}/{path}", headers=member.headers
        )
        return response.json() if response.status_code == 200 else None

    return await wait_for(probe, timeout=90, what=f"{path} of {attachment_id}")


async def _search(client: httpx.AsyncClient, member: Member, q: str) -> list[str]:
    response = await client.get("/v1/tickets", params={"q": q}, headers=member.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_narrated_recording_reaches_the_ticket(
    celery_worker: Worker, client: httpx.AsyncClient, session: AsyncSession, narrated: Path
) -> None:
    member = await _member(session, {"transcription_model": "tiny.en"})
    video = await upload(client, member.headers, "tab.webm", narrated.read_bytes(), "video/webm")
    created = await client.post(
        "/v1/captures", headers=member.headers, json=capture_body([video["id"]])
    )
    assert created.status_code == 201, created.text
    capture = created.json()

    transcript = await _text(client, member, video["id"], "transcript")
    assert transcript["status"] == "ready"
    assert _words(SENTENCE) in _words(transcript["text"])
    assert transcript["language"] == "en"
    assert (transcript["provider"], transcript["model"]) == ("local", "tiny.en")
    assert transcript["empty_reason"] is None
    assert 0 <= transcript["segments"][0]["start"] < transcript["segments"][-1]["end"]

    assert capture["ticket_id"] in await _search(client, member, "profile picture")
    fetched = (await client.get(f"/v1/captures/{capture['id']}", headers=member.headers)).json()
    assert fetched["texts"][0]["source"] == "transcript"

    vtt = await client.get(f"/v1/attachments/{video['id']}/transcript.vtt", headers=member.headers)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n00:00:0")
    assert " --> " in vtt.text
    srt = await client.get(f"/v1/attachments/{video['id']}/transcript.srt", headers=member.headers)
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text.startswith("1\n00:00:0")
    assert "," in srt.text.splitlines()[1]

    added: list[dict[str, Any]] = list(
        await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.topic == "ticket.content_added")
        )
    )
    assert {
        "ticket_id": capture["ticket_id"],
        "source": "transcript",
        "attachment_id": video["id"],
    } in added
    stranger = await create_member(session)
    hidden = await client.get(f"/v1/attachments/{video['id']}/transcript", headers=stranger.headers)
    assert hidden.status_code == 404


async def test_screenshot_text_reaches_the_ticket(
    celery_worker: Worker, client: httpx.AsyncClient, session: AsyncSession, page_shot: Path
) -> None:
    member = await _member(session, {})
    shot = await upload(client, member.headers, "shot.png", page_shot.read_bytes(), "image/png")
    body = capture_body([shot["id"]], kind="screenshot")
    capture = (await client.post("/v1/captures", headers=member.headers, json=body)).json()

    ocr = await _text(client, member, shot["id"], "ocr")
    assert ocr["status"] == "ready"
    assert "PRF-409" in ocr["text"]
    assert "avatar service rejected the image" in ocr["text"]
    assert ocr["confidence"] > 50
    assert capture["ticket_id"] in await _search(client, member, "avatar service rejected")
    missing = await client.get(f"/v1/attachments/{shot['id']}/transcript", headers=member.headers)
    assert missing.status_code == 404


async def test_recording_without_audio_has_an_empty_transcript(
    celery_worker: Worker, client: httpx.AsyncClient, session: AsyncSession, mute: Path
) -> None:
    member = await _member(session, {})
    video = await upload(client, member.headers, "mute.webm", mute.read_bytes(), "video/webm")
    await client.post("/v1/captures", headers=member.headers, json=capture_body([video["id"]]))

    transcript = await _text(client, member, video["id"], "transcript")
    assert transcript["status"] == "ready"
    assert (transcript["text"], transcript["segments"]) == ("", [])
    assert transcript["empty_reason"] == "no_audio_track"
    vtt = await client.get(f"/v1/attachments/{video['id']}/transcript.vtt", headers=member.headers)
    assert vtt.text == "WEBVTT\n"
    srt = await client.get(f"/v1/attachments/{video['id']}/transcript.srt", headers=member.headers)
    assert srt.text == ""


async def test_organization_can_switch_transcription_off(
    celery_worker: Worker, client: httpx.AsyncClient, session: AsyncSession, narrated: Path
) -> None:
    member = await _member(session, {"transcription_enabled": False})
    video = await upload(client, member.headers, "tab.webm", narrated.read_bytes(), "video/webm")
    await client.post("/v1/captures", headers=member.headers, json=capture_body([video["id"]]))

    async def handled() -> bool | None:
        names = (
            await session.scalars(
                select(ProcessedEvent.handler).where(
                    ProcessedEvent.handler.like("ticketcreator.transcripts.tasks.%"),
                    ProcessedEvent.state == "done",
                )
            )
        ).all()
        session.expire_all()
        return True if len(names) >= 2 else None

    await wait_for(handled, timeout=60, what="both extraction triggers")
    response = await client.get(f"/v1/attachments/{video['id']}/transcript", headers=member.headers)
    assert response.status_code == 404
