"""The single-request upload for small files, and type identification from the bytes."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.uploads.helpers import png, webm_like
from ticketcreator.accounts.models import Organization
from ticketcreator.core.errors import UnsupportedMediaType
from ticketcreator.uploads.content import UploadPolicy, detect, normalize


async def test_screenshot_in_one_request(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    image = png()
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("C:\\Users\\me\\shot 1.png", image, "image/png")},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == "shot 1.png"
    assert body["content_type"] == "image/png"
    assert body["kind"] == "image"
    assert body["size_bytes"] == len(image)
    assert body["processing"]["status"] == "pending"
    content = await client.get(body["content_url"], headers=member.headers)
    assert content.content == image
    assert content.headers["content-disposition"].startswith("inline;")


async def test_single_request_refusals(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    mismatch = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("notes.png", b"just some text\n" * 20, "image/png")},
    )
    assert mismatch.status_code == 415
    assert mismatch.headers["content-type"] == "application/problem+json"
    executable = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("tool.txt", b"MZ\x90\x00" + b"\x00" * 600, "application/octet-stream")},
    )
    assert executable.status_code == 415
    no_file = await client.post("/v1/attachments", headers=member.headers, data={"other": "x"})
    assert no_file.status_code == 400
    too_big = await client.post(
        "/v1/attachments",
        headers={**member.headers, "Content-Type": "multipart/form-data; boundary=x"},
        content=b"0" * (26 * 1024 * 1024 + 70_000),
    )
    assert too_big.status_code == 413

    async def chunked():  # type: ignore[no-untyped-def]
        yield b"--x\r\n"

    no_length = await client.post(
        "/v1/attachments",
        headers={**member.headers, "Content-Type": "multipart/form-data; boundary=x"},
        content=chunked(),
    )
    assert no_length.status_code == 411


async def test_organization_limit_applies_to_the_bytes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    await session.execute(
        update(Organization)
        .where(Organization.id == member.org_id)
        .values(settings={"uploads": {"max_size": 1000}})
    )
    await session.commit()
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("big.txt", b"a" * 5000, "text/plain")},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (png(), "image/png"),
        (webm_like(1000), "video/webm"),
        (b'{\n  "log": {\n    "version": "1.2"', "application/har+json"),
        (b'[{"level": "error"}]', "application/json"),
        ("Uncaught TypeError: ä".encode() + "é".encode()[:1], "text/plain"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"\xff\xfe\xfa invalid utf8", "application/octet-stream"),
        (b"%PDF-1.7\n", "application/pdf"),
    ],
)
def test_detect(head: bytes, expected: str) -> None:
    assert detect(head) == expected


def test_resolve_uses_the_family() -> None:
    policy = UploadPolicy.for_organization({})
    assert policy.resolve("audio/webm", webm_like(500)) == "audio/webm"
    assert policy.resolve("text/csv", b"a,b\n1,2\n") == "text/csv"
    assert policy.resolve("text/plain", b'{"log": {}}') == "application/har+json"
    assert policy.resolve(None, png()) == "image/png"
    with pytest.raises(UnsupportedMediaType):
        policy.resolve("video/webm", png())
    with pytest.raises(UnsupportedMediaType):
        policy.resolve("image/jpeg", b"plain")
    narrow = UploadPolicy.for_organization({"uploads": {"allowed_types": ["image/png"]}})
    assert narrow.allowed_types == {"image/png"}
    with pytest.raises(UnsupportedMediaType):
        narrow.resolve(None, b"text")


def test_normalize() -> None:
    assert normalize("Video/WebM;codecs=vp9,opus") == "video/webm"
    assert normalize("image/jpg") == "image/jpeg"
    assert normalize("application/octet-stream") is None
    assert normalize("") is None
