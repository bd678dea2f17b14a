"""The storage interface: whole objects written from async byte streams, read by range.

Objects are immutable once written: :meth:`Storage.put` makes an object appear whole or not
at all (a failing or aborted stream leaves nothing behind), so readers never see a partly
written file. Keys are ``/``-separated relative paths of ``[A-Za-z0-9._-]`` segments.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

ByteStream = AsyncIterator[bytes]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")


class ObjectNotFound(LookupError):
    """No object is stored under the key."""


class InvalidKey(ValueError):
    """The key is empty, absolute, or has a segment outside the allowed characters."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise :class:`InvalidKey`."""
    segments = key.split("/")
    if not key or any(not _SEGMENT.match(s) or s in {".", ".."} for s in segments):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class Storage(Protocol):
    """What the API and the workers need from a file store."""

    async def put(self, key: str, chunks: ByteStream, *, content_type: str) -> StoredObject:
        """Store the stream under ``key`` (replacing any object there), atomically.

        If ``chunks`` raises, the exception propagates and nothing is stored.
        """
        ...

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        """Open bytes ``start`` .. ``end`` (inclusive; ``None`` = to the end) for streaming.

        The object is looked up before this returns, so a missing key raises
        :class:`ObjectNotFound` here rather than in the middle of a response.
        """
        ...

    async def size(self, key: str) -> int:
        """The object's size in bytes; :class:`ObjectNotFound` if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix/``; returns how many."""
        ...

    async def concat(self, key: str, sources: Sequence[str], *, content_type: str) -> StoredObject:
        """Store the concatenation of ``sources`` under ``key``; sources are left in place."""
        ...

    async def presign(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A time-limited URL the backend serves directly, or None if it cannot."""
        ...
