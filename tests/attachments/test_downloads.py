"""Downloads: tenancy, Range, conditional requests, Content-Disposition, signed links."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.storage.moto import MotoServer
from tests.support.factories import create_member
from tests.uploads.helpers import webm_like
from ticketcreator.attachments import routes

DATA = os.urandom(10_000)


async def upload(client: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes) -> str:
    response = await client.post(
        "/v1/attachments", headers=headers, files={"file": (name, data, "application/zip")}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def zip_bytes() -> bytes:
    return b"PK\x03\x04" + DATA


async def test_metadata_and_tenancy(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await create_member(session)
    stranger = await create_member(session)
    attachment_id = await upload(client, owner.headers, "logs.zip", zip_bytes())
    got = await client.get(f"/v1/attachments/{attachment_id}", headers=owner.headers)
    assert got.status_code == 200
    assert got.json()["kind"] == "file"
    assert got.json()["derivatives"] == []
    for path in ("", "/content", "/derivatives/poster"):
        response = await client.get(
            f"/v1/attachments/{attachment_id}{path}", headers=stranger.headers
        )
        assert response.status_code == 404, path
    signed = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls", headers=stranger.headers, json={}
    )
    assert signed.status_code == 404
    missing = await client.get(
        f"/v1/attachments/{attachment_id}/derivatives/poster", headers=owner.headers
    )
    assert missing.status_code == 404


async def test_ranges(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    data = zip_bytes()
    size = len(data)
    attachment_id = await upload(client, member.headers, "Bericht ü.zip", data)
    url = f"/v1/attachments/{attachment_id}/content"

    full = await client.get(url, headers=member.headers)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == str(size)
    assert full.headers["content-type"] == "application/zip"
    assert full.headers["content-disposition"] == (
        "attachment; filename=\"Bericht u.zip\"; filename*=UTF-8''Bericht%20%C3%BC.zip"
    )
    etag = full.headers["etag"]

    cases = {
        "bytes=0-9": (0, 9),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        "bytes=9990-99999": (9990, size - 1),
    }
    for header, (start, end) in cases.items():
        part = await client.get(url, headers={**member.headers, "Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start : end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.headers["content-length"] == str(end - start + 1)

    for header in ("bytes=0-1,5-9", "items=0-5", "bytes=9-2"):
        ignored = await client.get(url, headers={**member.headers, "Range": header})
        assert ignored.status_code == 200, header
        assert ignored.content == data

    for header in (f"bytes={size}-", "bytes=-0"):
        unsatisfiable = await client.get(url, headers={**member.headers, "Range": header})
        assert unsatisfiable.status_code == 416
        assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
        assert unsatisfiable.headers["content-type"] == "application/problem+json"

    stale = await client.get(
        url, headers={**member.headers, "Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale.status_code == 200
    fresh = await client.get(
        url, headers={**member.headers, "Range": "bytes=0-9", "If-Range": etag}
    )
    assert fresh.status_code == 206
    cached = await client.get(url, headers={**member.headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["ratelimit-remaining"]  # a response the route writes itself
    assert fresh.headers["ratelimit-remaining"]
    inline = await client.get(url, params={"download": "false"}, headers=member.headers)
    assert inline.headers["content-disposition"].startswith("inline;")


async def test_signed_urls(client: httpx.AsyncClient, session: AsyncSession) -> None:
    member = await create_member(session)
    data = zip_bytes()
    attachment_id = await upload(client, member.headers, "logs.zip", data)
    created = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls",
        headers=member.headers,
        json={"ttl_s": 120, "download": True},
    )
    assert created.status_code == 201
    url = urlsplit(created.json()["url"])
    assert url.path == f"/v1/signed/attachments/{attachment_id}/original"

    anonymous = await client.get(f"{url.path}?{url.query}")
    assert anonymous.status_code == 200
    assert anonymous.content == data
    assert anonymous.headers["content-disposition"].startswith("attachment;")
    ranged = await client.get(f"{url.path}?{url.query}", headers={"Range": "bytes=2-5"})
    assert ranged.status_code == 206
    assert ranged.content == data[2:6]

    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    tampered = await client.get(url.path, params={**query, "download": "false"})
    assert tampered.status_code == 403
    expired = await client.get(url.path, params={**query, "expires": "1000"})
    assert expired.status_code == 403
    unknown_key = await client.get(url.path, params={**query, "kid": "nope"})
    assert unknown_key.status_code == 403
    other_variant = await client.get(f"/v1/signed/attachments/{attachment_id}/poster", params=query)
    assert other_variant.status_code == 403

    too_long = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls",
        headers=member.headers,
        json={"ttl_s": 10**7},
    )
    assert too_long.status_code == 400
    no_poster = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls",
        headers=member.headers,
        json={"variant": "poster"},
    )
    assert no_poster.status_code == 404


async def test_signed_url_of_a_deleted_attachment_is_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from sqlalchemy import delete

    from ticketcreator.attachments.models import Attachment

    member = await create_member(session)
    attachment_id = await upload(client, member.headers, "logs.zip", zip_bytes())
    created = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls", headers=member.headers, json={}
    )
    await session.execute(delete(Attachment))
    await session.commit()
    url = urlsplit(created.json()["url"])
    assert (await client.get(f"{url.path}?{url.query}")).status_code == 404


async def test_signed_url_redirects_to_s3(
    client: httpx.AsyncClient,
    session: AsyncSession,
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = moto_server.storage()
    monkeypatch.setattr(routes, "get_storage", lambda: storage)
    from ticketcreator.uploads import form as upload_form

    monkeypatch.setattr(upload_form, "get_storage", lambda: storage)
    member = await create_member(session)
    data = webm_like(50_000)
    response = await client.post(
        "/v1/attachments",
        headers=member.headers,
        files={"file": ("rec.webm", data, "video/webm")},
    )
    attachment_id = response.json()["id"]
    created = await client.post(
        f"/v1/attachments/{attachment_id}/signed-urls", headers=member.headers, json={}
    )
    url = urlsplit(created.json()["url"])
    redirect = await client.get(f"{url.path}?{url.query}")
    assert redirect.status_code == 307
    async with httpx.AsyncClient() as http:
        direct = await http.get(redirect.headers["location"])
    assert direct.content == data
    assert direct.headers["content-disposition"].startswith("inline;")
    via_api = await client.get(
        f"/v1/attachments/{attachment_id}/content",
        headers={**member.headers, "Range": "bytes=0-3"},
    )
    assert via_api.content == data[:4]
