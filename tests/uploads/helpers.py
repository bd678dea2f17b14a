"""Helpers for upload tests: tus headers, API keys, sample file contents."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member
from ticketcreator.accounts.models import ApiKey
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.accounts.tokens import hash_secret

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {"Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def sha256_header(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def png(width: int = 64, height: int = 48) -> bytes:
    """A valid RGB PNG (what a screenshot upload looks like)."""
    rows = b"".join(
        b"\x00" + bytes((x * 3 + y) % 256 for x in range(width * 3)) for y in range(height)
    )

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def webm_like(size: int) -> bytes:
    """Bytes that identify as WebM (EBML header with DocType webm) followed by filler."""
    header = bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04"
    header += b"\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02"
    return header + bytes(i % 251 for i in range(size - len(header)))


async def create_api_key(session: AsyncSession, member: Member) -> str:
    prefix = "k" + member.org_id.hex[:10]
    key = f"tck_{prefix}_secretsecretsecret"
    session.add(
        ApiKey(
            organization_id=member.org_id,
            created_by=member.user.id,
            name="extension",
            prefix=prefix,
            key_hash=hash_secret(key),
            scopes=[Permission.CAPTURES_WRITE.value, Permission.ATTACHMENTS_READ.value],
            role=Role.REPORTER,
        )
    )
    await session.commit()
    return key


async def create_upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    length: int,
    *,
    filename: str = "recording.webm",
    filetype: str = "video/webm",
) -> str:
    response = await client.post(
        "/v1/uploads",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename=filename, filetype=filetype),
        },
    )
    assert response.status_code == 201, response.text
    return response.headers["Location"]


async def patch(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    location: str,
    offset: int,
    data: bytes,
    **extra: str,
) -> httpx.Response:
    return await client.patch(
        location,
        content=data,
        headers={**headers, **TUS, **CHUNK, "Upload-Offset": str(offset), **extra},
    )
