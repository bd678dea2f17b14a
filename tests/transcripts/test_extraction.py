"""Extraction in-process: the cloud provider (a fake OpenAI server), redaction of what is
sent, retries, and progress events of long recordings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from ticketcreator.attachments.models import Attachment, AttachmentKind, ProcessingStatus
from ticketcreator.captures.models import Capture, CaptureAttachment, CaptureKind
from ticketcreator.core.ai_config import get_ai_config, parse_ai_config
from ticketcreator.core.config import ConfigError, load_settings
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.media import CloudTranscriptionError, LocalTranscriber
from ticketcreator.storage import get_storage
from ticketcreator.transcripts import extraction, flows
from ticketcreator.transcripts import repository as texts_repo
from ticketcreator.transcripts.models import AttachmentText, TextSource

FAKE_OPENAI = "http://fake-openai.test/v1"


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    yield path.read_bytes()


async def _recording(
    session: AsyncSession, client: httpx.AsyncClient, member: Member, wav: Path
) -> uuid.UUID:
    """A processed recording in a capture of a new ticket, written without events (so the
    test worker leaves it alone)."""
    ticket = await client.post("/v1/tickets", headers=member.headers, json={"title": "Avatar"})
    attachment_id = uuid.uuid4()
    key = f"orgs/{member.org_id}/attachments/{attachment_id}/audio.wav"
    stored = await get_storage().put(key, _chunks(wav), content_type="audio/wav")
    session.add(
        Attachment(
            id=attachment_id,
            organization_id=member.org_id,
            filename="tab.webm",
            content_type="video/webm",
            kind=AttachmentKind.VIDEO,
            size_bytes=stored.size,
            storage_key=f"orgs/{member.org_id}/attachments/{attachment_id}/original",
            processing_status=ProcessingStatus.READY,
            media={"duration_s": 4.5},
            derivatives={
                "audio": {"key": key, "content_type": "audio/wav", "size_bytes": stored.size}
            },
        )
    )
    capture = Capture(
        organization_id=member.org_id,
        ticket_id=uuid.UUID(ticket.json()["id"]),
        kind=CaptureKind.TAB_RECORDING,
        page_url="https://app.example.com/settings",
        page_title="Profile of ann@example.com",
        console=[{"level": "error", "message": "No avatar for ann@example.com"}],
        steps=[{"type": "click", "text": "Save profile"}],
        network={},
        browser={},
        os={},
        secrets_removed={},
    )
    session.add(capture)
    await session.flush()
    session.add(CaptureAttachment(capture_id=capture.id, attachment_id=attachment_id, position=0))
    await session.commit()
    return attachment_id


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    config = get_ai_config().model_dump(mode="python")
    raw = {
        "ai_providers": {
            "local": {"enabled": True},
            "openai": {"enabled": True, "api_key": "sk-test", "base_url": FAKE_OPENAI},
        },
        "transcription": {**config["transcription"], "provider": "openai"},
    }
    monkeypatch.setattr(extraction, "get_ai_config", lambda: parse_ai_config(raw))


async def test_cloud_transcription_sends_redacted_context(
    cloud: None, client: httpx.AsyncClient, session: AsyncSession, narrated: Path
) -> None:
    member = await create_member(session)
    attachment_id = await _recording(session, client, member, narrated.with_suffix(".wav"))
    answer = {
        "text": "The profile picture does not load.",
        "language": "english",
        "duration": 4.5,
        "segments": [{"start": 0.5, "end": 3.9, "text": " The profile picture does not load."}],
    }
    with respx.mock(assert_all_called=True) as fake:
        route = fake.post(f"{FAKE_OPENAI}/audio/transcriptions").mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json=answer)]
        )
        with pytest.raises(CloudTranscriptionError):
            await flows.extract(session, get_storage(), attachment_id)
        await session.rollback()
        await flows.extract(session, get_storage(), attachment_id)
        await session.commit()
    sent = route.calls[-1].request
    assert sent.headers["Authorization"] == "Bearer sk-test"
    form = sent.content.decode(errors="replace")
    assert "Save profile" in form
    assert "[EMAIL]" in form
    assert "ann@example.com" not in form
    text = await session.get(AttachmentText, (attachment_id, TextSource.TRANSCRIPT))
    assert text is not None
    assert (text.provider, text.model, text.language) == ("openai", "whisper-1", "en")
    assert text.segments == [
        {"start": 0.5, "end": 3.9, "text": "The profile picture does not load."}
    ]


async def test_long_recordings_announce_progress(
    monkeypatch: pytest.MonkeyPatch,
    client: httpx.AsyncClient,
    session: AsyncSession,
    narrated: Path,
) -> None:
    settings = load_settings(transcripts={"progress_min_duration_s": 1, "progress_step": 0.5})
    monkeypatch.setattr(extraction, "get_settings", lambda: settings)
    member = await create_member(session)
    attachment_id = await _recording(session, client, member, narrated.with_suffix(".wav"))
    organization = {"transcription_model": "tiny.en"}
    monkeypatch.setattr(texts_repo, "organization_settings", _returning(organization))
    await flows.extract(session, get_storage(), attachment_id)
    progress: list[dict[str, Any]] = list(
        await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.topic == "attachment.transcription_progress")
            .order_by(OutboxEvent.created_at)
        )
    )
    assert [p["attachment_id"] for p in progress] == [str(attachment_id)] * len(progress)
    assert [p["progress"] for p in progress][-1] == 1.0
    assert len(progress) >= 2
    await session.rollback()


def test_local_decoding_options_come_from_the_ai_config(monkeypatch: pytest.MonkeyPatch) -> None:
    config = get_ai_config().model_dump(mode="python")
    raw = {
        "ai_providers": {"local": {"enabled": True}},
        "transcription": {**config["transcription"], "batched_from_s": 30, "beam_size": 3},
    }
    monkeypatch.setattr(extraction, "get_ai_config", lambda: parse_ai_config(raw))
    transcriber, provider, model = extraction.build_transcriber({"transcription_model": "tiny.en"})
    assert isinstance(transcriber, LocalTranscriber)
    assert (provider, model) == ("local", "tiny.en")
    assert transcriber.options.batched_from_s == 30.0
    assert transcriber.options.beam_size == 3
    raw["transcription"]["batched_from_s"] = 0
    with pytest.raises(ConfigError, match=r"transcription\.batched_from_s"):
        parse_ai_config(raw)


def _returning(value: dict[str, str]) -> Callable[..., Awaitable[dict[str, str]]]:
    async def settings(*_: object) -> dict[str, str]:
        return value

    return settings
