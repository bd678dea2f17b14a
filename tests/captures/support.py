"""Helpers for capture tests: real media, uploads through the API, capture bodies."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.transcripts.models import AttachmentText, TextSource, TextStatus

SENTENCE = "When I open the settings page the profile picture does not load."
SCREEN_LINES = [
    "Profile update failed",
    "Error code PRF-409: the avatar service rejected the image.",
]


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (see scripts/apt-packages.txt)")


def recording(dest: Path, *, speech: str | None) -> Path:
    """A Chrome-like tab recording (WebM, VP9 + Opus, no duration header) of ``speech``
    spoken by espeak-ng after half a second; without ``speech`` a video with no audio."""
    need("ffmpeg")
    inputs = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"]
    codecs = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "100k"]
    if speech is not None:
        need("espeak-ng")
        wav = dest.with_suffix(".wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), speech], check=True)
        inputs += ["-i", str(wav)]
        codecs += ["-c:a", "libopus", "-af", "adelay=500:all=1", "-shortest"]
    else:
        codecs += ["-t", "2"]
    with dest.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-y", *inputs, *codecs, "-f", "webm", "-"],
            check=True,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    return dest


def screenshot(workdir: Path) -> Path:
    """A web page with an error message, rendered by headless Chromium."""
    need("chromium")
    body = "".join(f"<p>{line}</p>" for line in SCREEN_LINES)
    page = workdir / "page.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><style>body{font-family:"
        f"'DejaVu Sans',sans-serif;font-size:16px;margin:40px}}</style></head><body>{body}"
        "</body></html>",
        encoding="utf-8",
    )
    dest = workdir / "screenshot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={workdir / 'profile'}", f"--screenshot={dest}",
         "--window-size=900,300", page.as_uri()],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return dest


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, content: bytes, type_: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/attachments", headers=headers, files={"file": (name, content, type_)}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def capture_body(attachment_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "tab_recording",
        "attachment_ids": attachment_ids,
        "page_url": "https://app.example.com/settings/profile",
        "page_title": "Profile settings - Example App",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        "browser": {"name": "Chrome", "version": "131.0"},
        "os": {"name": "Linux", "version": "6.1"},
        "viewport": {"width": 1280, "height": 720, "device_pixel_ratio": 2},
        "console": [
            {
                "level": "error",
                "message": "Failed to load avatar: 409 Conflict",
                "source": "https://app.example.com/static/app.js:120",
                "timestamp": "2026-11-29T10:00:01Z",
            }
        ],
        "steps": [
            {
                "type": "navigation",
                "url": "https://app.example.com/settings/profile",
                "timestamp": "2026-11-29T10:00:00Z",
            },
            {
                "type": "click",
                "selector": "button.save",
                "text": "Save profile",
                "timestamp": "2026-11-29T10:00:02Z",
            },
        ],
        "description": "",
        "ticket": {"description": "The profile picture does not load."},
    }
    body.update(overrides)
    return body


async def settle(session: AsyncSession, timeout: float = 60.0) -> None:
    """Wait until the worker has no transaction open on the test database, so the tables
    can be emptied after the test (triage and extraction may still run after it passed)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
    )
    quiet = 0
    deadline = time.monotonic() + timeout
    while quiet < 3 and time.monotonic() < deadline:
        busy: int = (await session.execute(query)).scalar_one()
        await session.commit()
        quiet = quiet + 1 if busy == 0 else 0
        await asyncio.sleep(0.3)


def screenshot_text(attachment_id: str, organization_id: uuid.UUID, text: str) -> AttachmentText:
    """A screenshot's text as OCR stores it (without running Tesseract)."""
    return AttachmentText(
        attachment_id=uuid.UUID(attachment_id),
        source=TextSource.OCR,
        organization_id=organization_id,
        status=TextStatus.READY,
        text=text,
        segments=[],
        provider="tesseract",
        model="eng",
    )
