"""Resumable (tus) uploads, from the first byte to a registered attachment; the single-request
upload is in :mod:`.form`.

Each accepted tus PATCH is stored as one part object named by its offset and a tag of its
own; a chunk sent again after a retry must name the current offset (anything else is 409).
A body is read without a database connection (:func:`.body.receiving`: authorize, commit,
then read, with a timeout between chunks and a cap on each caller's uploads in flight), so slow
clients cannot take the pool. The part is then recorded in a short transaction under the
upload's advisory lock, and only if the upload is still at the offset the chunk was written
for; a request that lost the race deletes its part and answers 409, so the file can never be
corrupted. When the last byte arrives, the parts are joined into the attachment's object (a
hard link or a server-side copy when there is one part) and deleted after the commit.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from ticketcreator.accounts.auth import Principal
from ticketcreator.attachments import service as attachments
from ticketcreator.attachments.models import Attachment
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import after_commit, utcnow
from ticketcreator.core.errors import AppError, Conflict, Gone, NotFound, PayloadTooLarge
from ticketcreator.core.events import Topic, emit
from ticketcreator.core.storable import is_storable
from ticketcreator.storage import Storage, get_storage
from ticketcreator.uploads import repository
from ticketcreator.uploads.body import receiving
from ticketcreator.uploads.content import SNIFF_SIZE, UploadPolicy, normalize
from ticketcreator.uploads.errors import UploadLocked
from ticketcreator.uploads.intake import Checksum, Intake
from ticketcreator.uploads.models import Upload

DEFAULT_FILENAME = "upload"


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: filename ZGVtby53ZWJt,filetype dmlkZW8vd2VibQ==`` as a dict."""
    metadata: dict[str, str] = {}
    for item in (header or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.strip().partition(" ")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AppError(f"Upload-Metadata value of {key!r} is not base64 UTF-8.") from None
        if not (is_storable(key) and is_storable(metadata[key])):
            raise AppError(f"Upload-Metadata {key!r} holds a NUL character; it cannot be stored.")
    return metadata


def clean_filename(name: str | None) -> str:
    """The base name without path or control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:255] or DEFAULT_FILENAME


async def policy_for(session: AsyncSession, organization_id: uuid.UUID) -> UploadPolicy:
    return UploadPolicy.for_organization(
        await repository.organization_settings(session, organization_id)
    )


def _expiry() -> datetime:
    return utcnow() + timedelta(seconds=get_settings().uploads.expiry_s)


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    length: int,
    metadata_header: str | None,
    body: AsyncIterator[bytes] | None,
    checksum: Checksum | None,
) -> Upload:
    """tus creation, with the first chunk when ``body`` is given (creation-with-upload)."""
    policy = await policy_for(session, principal.organization_id)
    if length > policy.max_upload_size:
        raise PayloadTooLarge(
            f"Uploads may be at most {policy.max_upload_size} bytes.",
            max_size=policy.max_upload_size,
        )
    metadata = parse_metadata(metadata_header)
    declared = normalize(metadata.get("filetype") or metadata.get("type"))
    policy.check_declared(declared)
    upload = Upload(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        created_by_user_id=principal.user_id,
        created_by_api_key_id=principal.api_key_id,
        length=length,
        received=0,
        parts=[],
        filename=clean_filename(metadata.get("filename") or metadata.get("name")),
        declared_type=declared,
        content_type=None,
        metadata_=metadata,
        expires_at=_expiry(),
    )
    repository.add(session, upload)
    await session.flush()
    if body is not None:
        await _append(session, principal, upload, policy, body, checksum)
    elif length == 0:
        await _complete(session, upload, policy)
    return upload


async def _own(session: AsyncSession, principal: Principal, upload_id: uuid.UUID) -> Upload:
    """The upload if the caller started it; anyone else's is reported as not found."""
    upload = await repository.get(session, principal.organization_id, upload_id)
    if upload is None or not principal.is_author(
        upload.created_by_user_id, upload.created_by_api_key_id
    ):
        raise NotFound("No such upload.")
    return upload


async def get(session: AsyncSession, principal: Principal, upload_id: uuid.UUID) -> Upload:
    """The caller's own upload (404 for anyone else's), 410 once it has expired."""
    upload = await _own(session, principal, upload_id)
    if not upload.is_complete and upload.expires_at <= utcnow():
        raise Gone("The upload has expired; start a new one.")
    return upload


async def append(
    session: AsyncSession,
    principal: Principal,
    upload_id: uuid.UUID,
    *,
    offset: int,
    body: AsyncIterator[bytes],
    checksum: Checksum | None,
    content_length: int | None,
) -> Upload:
    """tus PATCH: write the body at ``offset``, which must be the current offset.

    Everything that can be refused from the headers is refused before a byte is read."""
    upload = await get(session, principal, upload_id)
    if offset != upload.received:
        raise _moved(offset, upload.received)
    if upload.is_complete:
        return upload
    remaining = upload.length - upload.received
    if content_length is not None and content_length > remaining:
        raise PayloadTooLarge(f"Only {remaining} more bytes fit in this upload.")
    max_chunk = get_settings().uploads.max_chunk_size
    if content_length is not None and content_length > max_chunk:
        raise PayloadTooLarge(f"One PATCH may carry at most {max_chunk} bytes.", max_size=max_chunk)
    policy = await policy_for(session, principal.organization_id)
    await _append(session, principal, upload, policy, body, checksum)
    return upload


def _moved(offset: int, received: int) -> Conflict:
    return Conflict(
        f"Upload-Offset is {offset} but the upload is at {received}; "
        "ask with HEAD and resume from there.",
        upload_offset=received,
    )


async def _head(storage: Storage, upload: Upload) -> bytes:
    """The first bytes already received (up to the sniff size), to identify the type."""
    head = bytearray()
    for key in upload.part_keys():
        async for chunk in await storage.open_range(key):
            head += chunk
            if len(head) >= SNIFF_SIZE:
                return bytes(head[:SNIFF_SIZE])
    return bytes(head)


async def _append(
    session: AsyncSession,
    principal: Principal,
    upload: Upload,
    policy: UploadPolicy,
    body: AsyncIterator[bytes],
    checksum: Checksum | None,
) -> None:
    storage = get_storage()
    offset = upload.received
    remaining = upload.length - offset
    head = await _head(storage, upload) if upload.content_type is None else None
    tag = secrets.randbits(48)
    key = upload.part_key(offset, tag)
    async with receiving(session, principal, body) as paced:
        intake = Intake(
            paced,
            limit=min(remaining, get_settings().uploads.max_chunk_size),
            checksum=checksum,
            head=head,
            identify=lambda data: policy.resolve(upload.declared_type, data),
            completes_at=remaining,
            keep_partial=True,
        )
        try:
            stored = await storage.put(
                key,
                intake.stream(),
                content_type=upload.declared_type or "application/octet-stream",
            )
        except ClientDisconnect:
            return  # the client left mid-chunk and a checksum was promised: nothing was stored
    if stored.size == 0:
        await storage.delete(key)
        return
    try:
        await _record(session, upload, [offset, stored.size, tag], intake.content_type, policy)
    except BaseException:
        await storage.delete(key)
        raise


async def _record(
    session: AsyncSession,
    upload: Upload,
    part: list[int],
    content_type: str | None,
    policy: UploadPolicy,
) -> None:
    """Add a stored part to the upload, if the upload is still where the part starts."""
    if not await repository.lock(session, upload.id, wait_s=get_settings().uploads.lock_wait_s):
        raise UploadLocked(
            "Another request is recording a chunk of this upload.", headers={"Retry-After": "1"}
        )
    offset, size = part[0], part[1]
    current = await repository.get(session, upload.organization_id, upload.id, fresh=True)
    if current is None:
        raise NotFound("The upload was removed while the chunk arrived.")
    if current.received != offset or current.is_complete:
        raise _moved(offset, current.received)
    current.parts = [*current.parts, part]
    current.received += size
    current.content_type = current.content_type or content_type
    current.expires_at = _expiry()
    emit(
        session,
        Topic.UPLOAD_PROGRESS,
        {"upload_id": str(current.id), "received": current.received, "length": current.length},
        organization_id=current.organization_id,
    )
    if current.received == current.length:
        await _complete(session, current, policy)
    await session.flush()


async def _complete(session: AsyncSession, upload: Upload, policy: UploadPolicy) -> Attachment:
    storage = get_storage()
    content_type = upload.content_type or policy.resolve(upload.declared_type, b"")
    key = attachments.original_key(upload.organization_id, upload.id)
    parts = upload.part_keys()
    if parts:
        stored_size = (await storage.concat(key, parts, content_type=content_type)).size
    else:
        stored_size = (await storage.put(key, _empty(), content_type=content_type)).size
    upload.content_type = content_type
    upload.completed_at = utcnow()
    prefix = upload.storage_prefix

    async def drop_parts() -> None:
        await storage.delete_prefix(prefix)

    after_commit(session, drop_parts)
    return await attachments.register(
        session,
        attachment_id=upload.id,
        organization_id=upload.organization_id,
        user_id=upload.created_by_user_id,
        api_key_id=upload.created_by_api_key_id,
        filename=upload.filename,
        content_type=content_type,
        size_bytes=stored_size,
        storage_key=key,
    )


async def _empty() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk


async def terminate(session: AsyncSession, principal: Principal, upload_id: uuid.UUID) -> None:
    """tus termination: forget an unfinished upload and the bytes received so far."""
    upload = await _own(session, principal, upload_id)
    if not await repository.lock(session, upload_id, wait_s=get_settings().uploads.lock_wait_s):
        raise UploadLocked("Another request is writing to this upload.")
    if upload.is_complete:
        raise Conflict("The upload is complete; its file is now an attachment.")
    await _forget(session, [upload])


async def _forget(session: AsyncSession, uploads: list[Upload]) -> None:
    storage = get_storage()
    prefixes = [upload.storage_prefix for upload in uploads]
    await repository.delete_rows(session, [upload.id for upload in uploads])

    async def drop_parts() -> None:
        for prefix in prefixes:
            await storage.delete_prefix(prefix)

    after_commit(session, drop_parts)


async def expire(session: AsyncSession, *, limit: int = 500) -> int:
    """Remove uploads past their expiry: unfinished ones with their parts, finished ones'
    bookkeeping rows (their files live on as attachments)."""
    uploads = await repository.expired(session, utcnow(), limit)
    if uploads:
        await _forget(session, uploads)
    return len(uploads)


async def delete_records(session: AsyncSession, upload_ids: list[uuid.UUID]) -> None:
    """Forget the upload records of these ids (their attachments were erased)."""
    await repository.delete_rows(session, upload_ids)
