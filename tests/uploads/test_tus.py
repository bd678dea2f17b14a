"""The tus 1.0.0 server through the API: protocol, extensions, limits, tenancy."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.uploads.helpers import (
    CHUNK,
    TUS,
    create_api_key,
    create_upload,
    metadata,
    patch,
    sha1_header,
    sha256_header,
    webm_like,
)
from ticketcreator.accounts.models import Organization
from ticketcreator.attachments.models import Attachment
from ticketcreator.core.db import commit, finish_after_response_work, utcnow
from ticketcreator.core.outbox import OutboxEvent
from ticketcreator.storage import get_storage
from ticketcreator.uploads import service
from ticketcreator.uploads.models import Upload


async def download(client: httpx.AsyncClient, headers: dict[str, str], upload_url: str) -> bytes:
    attachment_id = upload_url.rsplit("/", 1)[-1]
    response = await client.get(f"/v1/attachments/{attachment_id}/content", headers=headers)
    assert response.status_code == 200
    return response.content


async def test_discovery(client: httpx.AsyncClient) -> None:
    response = await client.options("/v1/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "checksum", "expiration",
    }  # fmt: skip
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}
    assert int(response.headers["Tus-Max-Size"]) > 0


async def test_chunks_at_offsets_make_an_attachment(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    data = webm_like(200_000)
    location = await create_upload(client, member.headers, len(data), filename="tab rec.webm")
    assert location.startswith("/v1/uploads/")

    head = await client.head(location, headers={**member.headers, **TUS})
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert "Upload-Expires" in head.headers
    assert "filename" in head.headers["Upload-Metadata"]

    first = await patch(client, member.headers, location, 0, data[:70_000])
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "70000"
    assert first.headers["Tus-Resumable"] == "1.0.0"
    # A retry of the same chunk at its old offset is refused; the file is untouched.
    again = await patch(client, member.headers, location, 0, data[:70_000])
    assert again.status_code == 409
    assert again.json()["upload_offset"] == 70_000
    last = await patch(client, member.headers, location, 70_000, data[70_000:])
    assert last.status_code == 204
    assert last.headers["Upload-Offset"] == str(len(data))
    assert "Upload-Expires" not in last.headers

    assert await download(client, member.headers, location) == data
    attachment = await session.get(Attachment, location.rsplit("/", 1)[-1])
    assert attachment is not None
    assert attachment.filename == "tab rec.webm"
    assert attachment.content_type == "video/webm"
    assert attachment.processing_status == "pending"
    topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert "attachment.uploaded" in topics
    # A finished upload still answers HEAD (clients check before resuming) and more PATCHes
    # at the end offset change nothing.
    done = await client.head(location, headers={**member.headers, **TUS})
    assert done.headers["Upload-Offset"] == str(len(data))
    assert (await patch(client, member.headers, location, len(data), b"")).status_code == 204


async def test_checksums(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    data = b"x" * 10_000
    location = await create_upload(
        client, member.headers, len(data), filename="log.txt", filetype="text/plain"
    )
    wrong = await patch(
        client, member.headers, location, 0, data[:5000], **{"Upload-Checksum": sha256_header(b"y")}
    )
    assert wrong.status_code == 460
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["type"].endswith("/checksum-mismatch")
    head = await client.head(location, headers={**member.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0"
    upload = await session.get(Upload, location.rsplit("/", 1)[-1])
    assert upload is not None
    storage = get_storage()
    assert await storage.delete_prefix(upload.storage_prefix) == 0  # nothing was written

    right = await patch(
        client,
        member.headers,
        location,
        0,
        data[:5000],
        **{"Upload-Checksum": sha256_header(data[:5000])},
    )
    assert right.status_code == 204
    bad_algorithm = await patch(
        client, member.headers, location, 5000, data[5000:], **{"Upload-Checksum": "md5 AAAA"}
    )
    assert bad_algorithm.status_code == 400
    malformed = await patch(
        client, member.headers, location, 5000, data[5000:], **{"Upload-Checksum": "sha256 !!"}
    )
    assert malformed.status_code == 400
    short = await patch(
        client, member.headers, location, 5000, data[5000:], **{"Upload-Checksum": "sha256 AAAA"}
    )
    assert short.status_code == 400
    sha1_wrong = await patch(
        client,
        member.headers,
        location,
        5000,
        data[5000:],
        **{"Upload-Checksum": sha1_header(b"y")},
    )
    assert sha1_wrong.status_code == 460
    sha1_short = await patch(
        client, member.headers, location, 5000, data[5000:], **{"Upload-Checksum": "SHA1 AAAA"}
    )
    assert sha1_short.status_code == 400
    sha1_right = await patch(
        client,
        member.headers,
        location,
        5000,
        data[5000:],
        **{"Upload-Checksum": sha1_header(data[5000:])},
    )
    assert sha1_right.status_code == 204
    assert await download(client, member.headers, location) == data


async def test_creation_with_upload_and_api_key(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    key = await create_api_key(session, member)
    data = json.dumps({"log": {"version": "1.2", "entries": []}}).encode()
    response = await client.post(
        "/v1/uploads",
        content=data,
        headers={
            "X-API-Key": key,
            **TUS,
            **CHUNK,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(filename="network.har", filetype="application/json"),
            "Upload-Checksum": sha256_header(data),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(data))
    attachment_id = response.headers["Location"].rsplit("/", 1)[-1]
    got = await client.get(f"/v1/attachments/{attachment_id}", headers={"X-API-Key": key})
    assert got.json()["content_type"] == "application/har+json"
    assert got.json()["kind"] == "log"


async def test_empty_upload_completes_at_creation(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    location = await create_upload(client, member.headers, 0, filename="empty.txt", filetype="")
    assert await download(client, member.headers, location) == b""


async def test_protocol_errors(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    no_version = await client.post("/v1/uploads", headers={**member.headers, "Upload-Length": "5"})
    assert no_version.status_code == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"
    no_length = await client.post("/v1/uploads", headers={**member.headers, **TUS})
    assert no_length.status_code == 400
    bad_metadata = await client.post(
        "/v1/uploads",
        headers={**member.headers, **TUS, "Upload-Length": "5", "Upload-Metadata": "filename %%"},
    )
    assert bad_metadata.status_code == 400
    for unstorable in ("a\x00b", "a\ud800b"):
        encoded = base64.b64encode(unstorable.encode("utf-8", "surrogatepass")).decode()
        refused = await client.post(
            "/v1/uploads",
            headers={
                **member.headers,
                **TUS,
                "Upload-Length": "5",
                "Upload-Metadata": f"note {encoded}",
            },
        )
        assert refused.status_code == 400, refused.text
        assert "note" in refused.json()["detail"]
    anonymous = await client.post("/v1/uploads", headers={**TUS, "Upload-Length": "5"})
    assert anonymous.status_code == 401
    assert anonymous.headers["Tus-Resumable"] == "1.0.0"

    data = webm_like(1000)
    location = await create_upload(client, member.headers, len(data))
    wrong_type = await client.patch(
        location,
        content=data,
        headers={**member.headers, **TUS, "Upload-Offset": "0", "Content-Type": "video/webm"},
    )
    assert wrong_type.status_code == 415
    no_offset = await client.patch(
        location, content=data, headers={**member.headers, **TUS, **CHUNK}
    )
    assert no_offset.status_code == 400
    too_long = await patch(client, member.headers, location, 0, data + b"extra")
    assert too_long.status_code == 413
    assert (await client.head(location, headers={**member.headers, **TUS})).headers[
        "Upload-Offset"
    ] == "0"


async def test_limits_and_types_per_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    await session.execute(
        update(Organization)
        .where(Organization.id == member.org_id)
        .values(settings={"uploads": {"max_size": 50_000, "allowed_types": ["video/webm"]}})
    )
    await session.commit()
    big = await client.post(
        "/v1/uploads", headers={**member.headers, **TUS, "Upload-Length": "50001"}
    )
    assert big.status_code == 413
    forbidden = await client.post(
        "/v1/uploads",
        headers={
            **member.headers,
            **TUS,
            "Upload-Length": "100",
            "Upload-Metadata": metadata(filename="a.png", filetype="image/png"),
        },
    )
    assert forbidden.status_code == 415
    assert forbidden.headers["content-type"] == "application/problem+json"

    # Declared as WebM, but the bytes are a shell script: refused from the bytes, not the name.
    data = b"#!/bin/sh\nrm -rf /\n" * 600
    location = await create_upload(client, member.headers, len(data))
    mismatch = await patch(client, member.headers, location, 0, data)
    assert mismatch.status_code == 415
    assert mismatch.json()["content_type"] == "text/plain"
    assert mismatch.json()["declared_type"] == "video/webm"
    head = await client.head(location, headers={**member.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0"


async def test_type_is_identified_across_small_chunks(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    data = webm_like(20_000)
    location = await create_upload(client, member.headers, len(data))
    offset = 0
    for size in (100, 3000, 7000, 9900):
        response = await patch(
            client, member.headers, location, offset, data[offset : offset + size]
        )
        assert response.status_code == 204
        offset += size
    assert await download(client, member.headers, location) == data


async def test_concurrent_patches_are_serialized(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    data = webm_like(300_000)
    location = await create_upload(client, member.headers, len(data))
    results = await asyncio.gather(
        patch(client, member.headers, location, 0, data[:150_000]),
        patch(client, member.headers, location, 0, data[:150_000]),
    )
    assert sorted(r.status_code for r in results) == [204, 409]
    assert (
        await patch(client, member.headers, location, 150_000, data[150_000:])
    ).status_code == 204
    assert await download(client, member.headers, location) == data


async def test_termination(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    data = webm_like(10_000)
    location = await create_upload(client, member.headers, len(data))
    await patch(client, member.headers, location, 0, data[:9000])
    upload = await session.get(Upload, location.rsplit("/", 1)[-1])
    assert upload is not None
    deleted = await client.delete(location, headers={**member.headers, **TUS})
    assert deleted.status_code == 204
    assert (await client.head(location, headers={**member.headers, **TUS})).status_code == 404
    await finish_after_response_work()  # its parts are dropped once the answer is sent
    assert await get_storage().delete_prefix(upload.storage_prefix) == 0

    finished = await create_upload(client, member.headers, 0, filetype="")
    assert (await client.delete(finished, headers={**member.headers, **TUS})).status_code == 409
    missing = await client.delete(f"/v1/uploads/{upload.id}", headers={**member.headers, **TUS})
    assert missing.status_code == 404


async def test_another_organization_cannot_see_an_upload(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session)
    stranger = await create_member(session)
    data = webm_like(1000)
    location = await create_upload(client, owner.headers, len(data))
    assert (await client.head(location, headers={**stranger.headers, **TUS})).status_code == 404
    assert (await patch(client, stranger.headers, location, 0, data)).status_code == 404
    assert (await client.delete(location, headers={**stranger.headers, **TUS})).status_code == 404


async def test_expired_uploads_answer_410_and_are_removed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    data = webm_like(10_000)
    location = await create_upload(client, member.headers, len(data))
    await patch(client, member.headers, location, 0, data[:4000])
    finished = await create_upload(client, member.headers, 0, filetype="")
    await session.execute(update(Upload).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    assert (await client.head(location, headers={**member.headers, **TUS})).status_code == 410
    assert (await patch(client, member.headers, location, 4000, data[4000:])).status_code == 410

    upload = await session.get(Upload, location.rsplit("/", 1)[-1], populate_existing=True)
    assert upload is not None
    prefix = upload.storage_prefix
    assert await service.expire(session) == 2
    await commit(session)  # removes the parts after the commit
    assert (await session.scalars(select(Upload))).all() == []
    # The finished upload's attachment lives on.
    assert await session.get(Attachment, finished.rsplit("/", 1)[-1]) is not None
    assert await get_storage().delete_prefix(prefix) == 0


async def test_beat_task_removes_expired_uploads(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from ticketcreator.uploads.tasks import _expire

    member = await create_member(session)
    await create_upload(client, member.headers, 100)
    assert await _expire() == 0
    await session.execute(update(Upload).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    assert await _expire() == 1
