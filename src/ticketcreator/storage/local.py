"""Files in a local directory: the default backend (development, single-host installs).

Writes go to a private temporary file that is flushed to disk and renamed into place, so an
object is either complete or absent. Keys are checked and resolved under the root; nothing
outside it can be read or written.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ticketcreator.storage.base import (
    ByteStream,
    InvalidKey,
    ObjectNotFound,
    StoredObject,
    check_key,
)

_TMP = ".tmp"


class LocalStorage:
    def __init__(self, root: Path, *, buffer_size: int = 1024 * 1024) -> None:
        self.root = root.resolve()
        self.buffer_size = buffer_size

    def path(self, key: str) -> Path:
        """The file of ``key``; raises :class:`InvalidKey` for anything outside the root."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"invalid storage key: {key!r}")
        return path

    def _temp_file(self) -> Path:
        tmp_dir = self.root / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tmp_dir / uuid.uuid4().hex

    def _finalize(self, temp: Path, key: str) -> StoredObject:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, dest)
        return StoredObject(key=key, size=dest.stat().st_size)

    async def put(self, key: str, chunks: ByteStream, *, content_type: str) -> StoredObject:
        self.path(key)
        temp = await asyncio.to_thread(self._temp_file)
        out = await asyncio.to_thread(temp.open, "wb")
        try:
            buffer = bytearray()
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= self.buffer_size:
                    await asyncio.to_thread(out.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(out.write, bytes(buffer))
            await asyncio.to_thread(_flush, out)
        except BaseException:
            out.close()
            temp.unlink(missing_ok=True)
            raise
        out.close()
        return await asyncio.to_thread(self._finalize, temp, key)

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        path = self.path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return self._read(handle, start, end)

    async def _read(self, handle: BinaryIO, start: int, end: int | None) -> AsyncIterator[bytes]:
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = self.buffer_size if remaining is None else min(self.buffer_size, remaining)
                data = await asyncio.to_thread(handle.read, size)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            handle.close()

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        directory = self.path(prefix)

        def remove() -> int:
            if not directory.is_dir():
                return 0
            count = sum(1 for item in directory.rglob("*") if item.is_file())
            shutil.rmtree(directory, ignore_errors=True)
            return count

        return await asyncio.to_thread(remove)

    async def concat(self, key: str, sources: Sequence[str], *, content_type: str) -> StoredObject:
        paths = [self.path(source) for source in sources]
        self.path(key)

        def join() -> StoredObject:
            temp = self._temp_file()
            try:
                if len(paths) == 1:
                    # Same file system: a hard link costs nothing, however large the file.
                    os.link(paths[0], temp)
                else:
                    with temp.open("wb") as out:
                        for path in paths:
                            with path.open("rb") as source:
                                shutil.copyfileobj(source, out, self.buffer_size)
                        _flush(out)
            except FileNotFoundError as exc:
                temp.unlink(missing_ok=True)
                raise ObjectNotFound(str(exc.filename)) from None
            return self._finalize(temp, key)

        return await asyncio.to_thread(join)

    async def presign(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        return None


def _flush(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
