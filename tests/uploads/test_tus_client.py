"""A real tus client library (tuspy) against the API in a real uvicorn process."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tusclient import client as tus
from tusclient.uploader import Uploader

from tests.support.factories import create_member
from tests.support.services import ApiServer
from tests.uploads.helpers import webm_like


class Sha256Uploader(Uploader):  # type: ignore[misc]
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def _uploader(
    server: ApiServer,
    headers: dict[str, str],
    path: Path,
    url: str | None = None,
    uploader: type[Uploader] = Sha256Uploader,
) -> Uploader:
    tus_client = tus.TusClient(server.url + "/v1/uploads", headers=headers)
    return uploader(
        file_path=str(path),
        client=tus_client,
        url=url,
        chunk_size=256 * 1024,
        metadata={"filename": path.name, "filetype": "video/webm"},
        upload_checksum=True,
        retries=2,
        retry_delay=0,
    )


def _content(server: ApiServer, headers: dict[str, str], url: str) -> bytes:
    attachment_id = url.rsplit("/", 1)[-1]
    response = httpx.get(
        f"{server.url}/v1/attachments/{attachment_id}/content", headers=headers, timeout=60
    )
    assert response.status_code == 200
    return response.content


async def test_interrupted_upload_resumed_by_tuspy_is_byte_identical(
    api_server: ApiServer, session: AsyncSession, tmp_path: Path
) -> None:
    member = await create_member(session)
    path = tmp_path / "screen recording.webm"
    data = webm_like(1_300_000)
    path.write_bytes(data)

    first = _uploader(api_server, member.headers, path)
    await asyncio.to_thread(first.upload, stop_at=len(data) // 2)
    assert first.url is not None
    assert 0 < first.offset < len(data)

    # A new client (the browser was reloaded) asks the server where to continue.
    second = _uploader(api_server, member.headers, path, url=first.url)
    assert second.offset == first.offset
    await asyncio.to_thread(second.upload)
    assert second.offset == len(data)

    assert await asyncio.to_thread(_content, api_server, member.headers, first.url) == data


async def test_connection_dropped_mid_chunk_keeps_the_bytes_that_arrived(
    api_server: ApiServer, session: AsyncSession, tmp_path: Path
) -> None:
    member = await create_member(session)
    path = tmp_path / "tab.webm"
    data = webm_like(900_000)
    path.write_bytes(data)
    created = httpx.post(
        api_server.url + "/v1/uploads",
        headers={**member.headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data))},
        timeout=60,
    )
    url = api_server.url + created.headers["Location"]

    # Announce the whole file, send 400 kB, then drop the connection.
    target = urlsplit(url)
    with socket.create_connection((target.hostname, target.port)) as sock:
        head = (
            f"PATCH {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Authorization: {member.headers['Authorization']}\r\n"
            "Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:400_000])
        await asyncio.sleep(0.5)

    offset = 0
    for _ in range(50):
        response = httpx.head(url, headers={**member.headers, "Tus-Resumable": "1.0.0"}, timeout=60)
        offset = int(response.headers["Upload-Offset"])
        if offset:
            break
        await asyncio.sleep(0.1)
    assert 0 < offset <= 400_000

    resumed = _uploader(api_server, member.headers, path, url=url)
    assert resumed.offset == offset
    await asyncio.to_thread(resumed.upload)
    assert await asyncio.to_thread(_content, api_server, member.headers, url) == data


async def test_tuspy_with_its_default_sha1_checksum_uploads_every_chunk(
    api_server: ApiServer, session: AsyncSession, tmp_path: Path
) -> None:
    """tus 1.0.0: a server with the checksum extension must support sha1, tuspy's default."""
    member = await create_member(session)
    path = tmp_path / "narrated.webm"
    data = webm_like(700_000)
    path.write_bytes(data)

    uploader = _uploader(api_server, member.headers, path, uploader=Uploader)
    assert uploader.checksum_algorithm_name == "sha1"
    await asyncio.to_thread(uploader.upload)
    assert uploader.offset == len(data)
    assert uploader.url is not None
    assert await asyncio.to_thread(_content, api_server, member.headers, uploader.url) == data
