"""Slow uploads hold no database connection: many trickling bodies over real sockets while
other requests answer; refusals that need no body are answered at once; each caller has a cap
on uploads in flight and a body that stops arriving times out."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.support.live import serve_api
from tests.support.services import asyncpg_dsn
from tests.uploads.helpers import CHUNK, TUS, create_upload, webm_like
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import get_engine
from ticketcreator.storage import get_storage
from ticketcreator.uploads import body as upload_body

pytestmark = pytest.mark.usefixtures("database")

SLOW_UPLOADS = 40
BODY = 64  # bytes per slow upload, sent one byte every TRICKLE_S
TRICKLE_S = 0.5
OVERFLOWING_LENGTH = "83264575815377600963369454534656"


@pytest.fixture(scope="module")
def slow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with a small pool that answers fast when exhausted, and room for 40 uploads."""
    env = {
        "TC_DATABASE__POOL_SIZE": "5",
        "TC_DATABASE__MAX_OVERFLOW": "5",
        "TC_DATABASE__POOL_TIMEOUT_S": "3",
        "TC_UPLOADS__MAX_CONCURRENT_PER_PRINCIPAL": str(SLOW_UPLOADS + 10),
    }
    log = tmp_path_factory.mktemp("slow-api") / "api.log"
    with log.open("w") as stream, serve_api(env=env, log=stream) as url:
        yield url


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _head(method: str, path: str, headers: dict[str, str], length: int | str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _status(reader: asyncio.StreamReader) -> int:
    return int((await reader.readline()).split()[1])


async def _trickle(port: int, head: bytes, body: bytes, go: asyncio.Event) -> int:
    """Send ``body`` a byte at a time until ``go``, then the rest; the response status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        sent = 0
        while not go.is_set() and sent < len(body) - 1:
            writer.write(body[sent : sent + 1])
            await writer.drain()
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(go.wait(), TRICKLE_S)
        writer.write(body[sent:])
        await writer.drain()
        return await asyncio.wait_for(_status(reader), 60)
    finally:
        writer.close()


def _form(content: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


async def _connections_in_transaction(database: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database))
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return count


async def test_forty_slow_uploads_in_flight_while_other_requests_answer(
    slow_api: str, session: AsyncSession, database: str
) -> None:
    member = await create_member(session)
    port = _port(slow_api)
    async with httpx.AsyncClient(base_url=slow_api, timeout=30) as api:
        locations = [
            await create_upload(api, member.headers, BODY) for _ in range(SLOW_UPLOADS // 2)
        ]
        go = asyncio.Event()
        uploads: list[asyncio.Task[int]] = []
        for location in locations:
            headers = {**member.headers, **TUS, **CHUNK, "Upload-Offset": "0"}
            head = _head("PATCH", location, headers, BODY)
            uploads.append(asyncio.create_task(_trickle(port, head, webm_like(BODY), go)))
        for index in range(SLOW_UPLOADS // 2):
            content_type, body = _form(f"slow upload {index} ".encode().ljust(BODY, b"."))
            headers = {**member.headers, "Content-Type": content_type}
            head = _head("POST", "/v1/attachments", headers, len(body))
            uploads.append(asyncio.create_task(_trickle(port, head, body, go)))
        await asyncio.sleep(3 * TRICKLE_S)  # every upload has sent its headers and first bytes
        assert not any(upload.done() for upload in uploads)

        latencies, statuses = [], []
        held = 0
        for _ in range(20):
            started = time.perf_counter()
            response = await api.get("/v1/tickets", headers=member.headers)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses.append(response.status_code)
            held = max(held, await _connections_in_transaction(database))
        in_flight = sum(not upload.done() for upload in uploads)
        go.set()
        finished = await asyncio.gather(*uploads)

    print(
        f"\n{in_flight} slow uploads in flight; 20 GET /v1/tickets: "
        f"p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms; "
        f"connections idle in a transaction: {held}"
    )
    assert in_flight == SLOW_UPLOADS
    assert statuses == [200] * 20
    assert max(latencies) < 2000
    assert held == 0  # no upload waits on its client inside a transaction
    assert finished == [204] * (SLOW_UPLOADS // 2) + [201] * (SLOW_UPLOADS // 2)


async def _answer_time(port: int, head: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        status = await asyncio.wait_for(_status(reader), 10)
    finally:
        writer.close()
    return status, (time.perf_counter() - started) * 1000


async def test_a_patch_that_cannot_fit_is_answered_at_once_without_its_body(
    slow_api: str, session: AsyncSession
) -> None:
    member = await create_member(session)
    port = _port(slow_api)
    headers = {**member.headers, **TUS, **CHUNK, "Upload-Offset": "0"}
    max_chunk = get_settings().uploads.max_chunk_size
    async with httpx.AsyncClient(base_url=slow_api, timeout=30) as api:
        big = await create_upload(api, member.headers, 2 * max_chunk)
    cases = {
        "above the largest chunk": (big, max_chunk + 1, 413),
        "above what the upload lacks": (big, 10**18, 413),
        "unknown upload": (f"/v1/uploads/{uuid.uuid4()}", max_chunk, 404),
        "beyond any integer": (big, OVERFLOWING_LENGTH, 400),
    }
    for name, (path, length, expected) in cases.items():
        status, elapsed_ms = await _answer_time(port, _head("PATCH", path, headers, length))
        print(f"\n{name}: {status} in {elapsed_ms:.0f} ms")
        assert status == expected, name
        assert elapsed_ms < 5000, name


def _settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    settings = get_settings()
    changed = settings.model_copy(update={"uploads": settings.uploads.model_copy(update=values)})
    monkeypatch.setattr(upload_body, "get_settings", lambda: changed)


async def _held_body(first: bytes, release: asyncio.Event, rest: bytes) -> AsyncIterator[bytes]:
    yield first
    await release.wait()
    yield rest


class Started(NamedTuple):
    member: Member
    data: bytes
    location: str
    headers: dict[str, str]  # a first PATCH's


async def _started(client: httpx.AsyncClient, session: AsyncSession, size: int) -> Started:
    member = await create_member(session)
    data = webm_like(size)
    location = await create_upload(client, member.headers, size)
    return Started(member, data, location, {**member.headers, **TUS, **CHUNK, "Upload-Offset": "0"})


async def test_each_caller_has_a_cap_on_uploads_in_flight(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, max_concurrent_per_principal=2)
    member = await create_member(session)
    other = await create_member(session, member.organization)
    data = webm_like(2000)
    locations = [await create_upload(client, member.headers, len(data)) for _ in range(3)]
    release = asyncio.Event()
    headers = {**member.headers, **TUS, **CHUNK, "Upload-Offset": "0"}
    held = [
        asyncio.create_task(
            client.patch(
                location, content=_held_body(data[:1000], release, data[1000:]), headers=headers
            )
        )
        for location in locations[:2]
    ]
    await asyncio.sleep(0.5)
    refused = await client.patch(locations[2], content=data, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["limit"] == 2
    # Another caller is not affected; nor is this one once an upload has finished.
    other_location = await create_upload(client, other.headers, len(data))
    other_headers = {**other.headers, **TUS, **CHUNK, "Upload-Offset": "0"}
    assert (
        await client.patch(other_location, content=data, headers=other_headers)
    ).status_code == 204
    release.set()
    assert [response.status_code for response in await asyncio.gather(*held)] == [204, 204]
    assert (await client.patch(locations[2], content=data, headers=headers)).status_code == 204


async def test_a_body_that_stops_arriving_times_out_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, body_read_timeout_s=0.5)
    member, data, location, headers = await _started(client, session, 2000)
    never = asyncio.Event()
    started = time.perf_counter()
    stalled = await client.patch(
        location, content=_held_body(data[:100], never, b""), headers=headers
    )
    assert stalled.status_code == 408, stalled.text
    assert time.perf_counter() - started < 5
    head = await client.head(location, headers={**member.headers, **TUS})
    assert head.headers["Upload-Offset"] == "0"
    content_type, body = _form(b"hello")
    form = await client.post(
        "/v1/attachments",
        content=_held_body(body[:20], never, b""),
        headers={**member.headers, "Content-Type": content_type, "Content-Length": str(len(body))},
    )
    assert form.status_code == 408, form.text


async def test_database_sessions_end_a_transaction_left_idle(database: str) -> None:
    async with get_engine().connect() as connection:
        value = await connection.scalar(text("SHOW idle_in_transaction_session_timeout"))
    assert value == "1min"
    assert get_settings().database.idle_in_transaction_timeout_ms == 60_000


async def test_racing_patches_at_one_offset_keep_the_file_whole(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member, data, location, headers = await _started(client, session, 4000)
    release = asyncio.Event()
    first = asyncio.create_task(
        client.patch(
            location, content=_held_body(data[:1000], release, data[1000:2000]), headers=headers
        )
    )
    await asyncio.sleep(0.3)
    second = await client.patch(location, content=data[:1500], headers=headers)
    assert second.status_code == 204
    release.set()
    lost = await first
    assert lost.status_code == 409, lost.text
    assert lost.json()["upload_offset"] == 1500
    rest = {**headers, "Upload-Offset": "1500"}
    assert (await client.patch(location, content=data[1500:], headers=rest)).status_code == 204
    attachment = location.rsplit("/", 1)[1]
    content = await client.get(f"/v1/attachments/{attachment}/content", headers=member.headers)
    assert content.content == data


async def test_an_upload_terminated_while_a_chunk_arrives_keeps_no_part(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member, data, location, headers = await _started(client, session, 3000)
    release = asyncio.Event()
    arriving = asyncio.create_task(
        client.patch(location, content=_held_body(data[:1000], release, b""), headers=headers)
    )
    await asyncio.sleep(0.3)
    terminated = await client.delete(location, headers={**member.headers, **TUS})
    assert terminated.status_code == 204
    release.set()
    late = await arriving
    assert late.status_code == 404, late.text
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    prefix = f"orgs/{member.org_id}/uploads/{upload_id}"
    assert await get_storage().delete_prefix(prefix) == 0  # nothing was left behind
