"""Both backends against the same behaviour: local files and a real S3 server (moto)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.storage.moto import CREDENTIALS, REGION, MotoServer
from ticketcreator.core.config_sections import StorageSection
from ticketcreator.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    get_storage,
)
from ticketcreator.storage.content import content_disposition

MIB = 1024 * 1024


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


async def failing(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise RuntimeError("client went away")


async def read(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await storage.open_range(key, start, end)])


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store", buffer_size=64 * 1024)
    server: MotoServer = request.getfixturevalue("moto_server")
    return server.storage()


async def test_put_then_read_whole_and_ranges(storage: Storage) -> None:
    data = os.urandom(300_000)
    stored = await storage.put("orgs/a/file.bin", stream(data), content_type="video/webm")
    assert stored.size == len(data)
    assert await storage.size("orgs/a/file.bin") == len(data)
    assert await read(storage, "orgs/a/file.bin") == data
    assert await read(storage, "orgs/a/file.bin", 10, 19) == data[10:20]
    assert await read(storage, "orgs/a/file.bin", 299_990) == data[299_990:]


async def test_large_object_goes_multipart(storage: Storage) -> None:
    data = os.urandom(11 * MIB + 123)
    stored = await storage.put("big/object", stream(data, MIB), content_type="video/webm")
    assert stored.size == len(data)
    assert (
        await read(storage, "big/object", 5 * MIB - 2, 5 * MIB + 1)
        == data[5 * MIB - 2 : 5 * MIB + 2]
    )
    assert await read(storage, "big/object") == data


async def test_failed_stream_stores_nothing(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        await storage.put("x/partial", failing(b"a" * 6 * MIB), content_type="text/plain")
    with pytest.raises(ObjectNotFound):
        await storage.size("x/partial")
    with pytest.raises(ObjectNotFound):
        await storage.open_range("x/partial")


async def test_concat_delete_and_prefixes(storage: Storage) -> None:
    parts = [os.urandom(1000), os.urandom(2000), os.urandom(5)]
    for index, part in enumerate(parts):
        await storage.put(
            f"up/1/{index:03d}", stream(part), content_type="application/octet-stream"
        )
    joined = await storage.concat(
        "att/1/original", [f"up/1/{i:03d}" for i in range(3)], content_type="video/webm"
    )
    assert joined.size == 3005
    assert await read(storage, "att/1/original") == b"".join(parts)
    single = await storage.concat("att/2/original", ["up/1/001"], content_type="video/webm")
    assert single.size == 2000
    assert await read(storage, "att/2/original") == parts[1]

    assert await storage.delete_prefix("up/1") == 3
    assert await storage.delete_prefix("up/1") == 0
    assert await read(storage, "att/2/original") == parts[1]
    await storage.delete("att/1/original")
    await storage.delete("att/1/original")
    with pytest.raises(ObjectNotFound):
        await storage.size("att/1/original")
    with pytest.raises(ObjectNotFound):
        await storage.concat("att/3/original", ["up/1/000", "up/1/002"], content_type="x/y")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../../b", "a//b", ".hidden", "a/./b"])
async def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await storage.put(key, stream(b"x"), content_type="text/plain")
    with pytest.raises(InvalidKey):
        await storage.open_range(key)


async def test_local_writes_stay_under_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    await storage.put("a/b.txt", stream(b"hello"), content_type="text/plain")
    assert (tmp_path / "root" / "a" / "b.txt").read_bytes() == b"hello"
    assert not list((tmp_path / "root" / ".tmp").iterdir())
    assert (
        await storage.presign(
            "a/b.txt", expires_s=60, filename="b.txt", content_type="text/plain", inline=True
        )
        is None
    )


async def test_s3_presigned_url_serves_the_object(moto_server: MotoServer) -> None:
    storage = moto_server.storage()
    await storage.put("orgs/o/rec.webm", stream(b"webm-bytes"), content_type="video/webm")
    url = await storage.presign(
        "orgs/o/rec.webm",
        expires_s=60,
        filename="Bildschirm ä.webm",
        content_type="video/webm",
        inline=False,
    )
    assert url is not None
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == b"webm-bytes"
    assert "filename*=UTF-8''Bildschirm%20%C3%A4.webm" in response.headers["content-disposition"]


def test_s3_backend_from_settings(moto_server: MotoServer) -> None:
    cfg = StorageSection(
        backend="s3",
        s3_bucket="configured",
        s3_endpoint_url=moto_server.endpoint,
        s3_region=REGION,
        s3_access_key_id=SecretStr(CREDENTIALS["aws_access_key_id"]),
        s3_secret_access_key=SecretStr(CREDENTIALS["aws_secret_access_key"]),
    )
    storage = S3Storage.from_settings(cfg)
    assert storage.bucket == "configured"
    assert storage.part_size == cfg.s3_multipart_part_size


def test_default_backend_is_local() -> None:
    assert isinstance(get_storage(), LocalStorage)


def test_content_disposition_has_ascii_fallback_and_utf8_name() -> None:
    value = content_disposition('Screen "rec"; ö.webm', inline=True)
    assert value.startswith('inline; filename="Screen _rec__ o.webm"')
    assert value.endswith("filename*=UTF-8''Screen%20%22rec%22%3B%20%C3%B6.webm")
    assert content_disposition("日本", inline=False) == (
        "attachment; filename=\"download\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC"
    )
