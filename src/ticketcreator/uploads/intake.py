"""One request body on its way to storage: counted, hashed, identified and limited in flight.

The body is read from ``request.stream()`` chunk by chunk and handed straight to the storage
backend; nothing but the first :data:`SNIFF_SIZE` bytes is kept. Any violation (too long,
wrong type, bad checksum) raises inside the stream, so the backend aborts and stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect

from ticketcreator.core.errors import AppError, PayloadTooLarge
from ticketcreator.uploads.content import SNIFF_SIZE
from ticketcreator.uploads.errors import ChecksumMismatch

# tus 1.0.0: a server with the checksum extension must support sha1; sha256 is preferred.
CHECKSUM_ALGORITHMS = ("sha1", "sha256")


@dataclass(frozen=True)
class Checksum:
    """A parsed ``Upload-Checksum: <sha1|sha256> <base64 digest>``."""

    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    @classmethod
    def parse(cls, header: str | None) -> Checksum | None:
        if header is None:
            return None
        name, _, encoded = header.strip().partition(" ")
        algorithm = name.lower()
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise AppError(
                f"Checksum algorithm {name!r} is not supported; use sha1 or sha256.",
                headers={"Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)},
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise AppError(f"Upload-Checksum must be `{algorithm} <base64 digest>`.") from None
        if len(digest) != hashlib.new(algorithm).digest_size:
            raise AppError(f"Upload-Checksum has the wrong length for {algorithm}.")
        return cls(algorithm, digest)


class Intake:
    """Wraps a request body for one write.

    ``limit``: the most bytes this write may carry. ``head``: the file's bytes before this
    write while the type is still unknown (None once it is known). ``identify`` is called
    with the first :data:`SNIFF_SIZE` bytes, or with the whole file if it is shorter (once
    ``completes_at`` bytes have arrived; ``None`` means the body is the whole file), and
    raises to refuse the file. ``keep_partial``: a client that disconnects keeps what
    arrived (tus resumption) unless the write carries a checksum.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        limit: int,
        checksum: Checksum | None = None,
        head: bytes | None = None,
        identify: Callable[[bytes], str] | None = None,
        completes_at: int | None = None,
        keep_partial: bool = False,
    ) -> None:
        self._body = body
        self._limit = limit
        self._checksum = checksum
        self._hasher = checksum.hasher() if checksum is not None else None
        self._head = bytearray(head) if head is not None and identify is not None else None
        self._identify = identify
        self._completes_at = completes_at
        self._keep_partial = keep_partial and checksum is None
        self.received = 0
        self.content_type: str | None = None
        self.disconnected = False

    def _sniff(self, force: bool) -> None:
        if self._head is None or self._identify is None:
            return
        if force or len(self._head) >= SNIFF_SIZE:
            self.content_type = self._identify(bytes(self._head[:SNIFF_SIZE]))
            self._head = None

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                if not chunk:
                    continue
                self.received += len(chunk)
                if self.received > self._limit:
                    raise PayloadTooLarge(
                        f"The body is longer than the {self._limit} bytes this request may carry."
                    )
                if self._hasher is not None:
                    self._hasher.update(chunk)
                if self._head is not None:
                    self._head += chunk[: SNIFF_SIZE - len(self._head)]
                    self._sniff(force=False)
                yield chunk
        except ClientDisconnect:
            if not self._keep_partial:
                raise
            self.disconnected = True
            return
        if self._completes_at is None or self.received == self._completes_at:
            self._sniff(force=True)
        if (
            self._checksum is not None
            and self._hasher is not None
            and not hmac.compare_digest(self._hasher.digest(), self._checksum.digest)
        ):
            raise ChecksumMismatch(
                "The bytes received do not match Upload-Checksum; nothing was stored."
            )
