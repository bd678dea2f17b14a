"""The single-request upload: one ``multipart/form-data`` part named ``file``, read without a
database connection (:mod:`.body`), identified, checked and stored as an attachment. Larger
files go through the resumable uploads (:mod:`.service`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ticketcreator.accounts.auth import Principal
from ticketcreator.attachments import service as attachments
from ticketcreator.attachments.models import Attachment
from ticketcreator.core.errors import AppError, PayloadTooLarge
from ticketcreator.storage import get_storage
from ticketcreator.uploads.body import receiving
from ticketcreator.uploads.content import UploadPolicy, normalize
from ticketcreator.uploads.errors import LengthRequired
from ticketcreator.uploads.intake import Intake
from ticketcreator.uploads.service import clean_filename, policy_for

# Multipart framing around the file: boundaries and part headers.
_FORM_OVERHEAD = 64 * 1024


async def store_form(
    session: AsyncSession,
    principal: Principal,
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    *,
    buffer_size: int,
) -> Attachment:
    """The single-request upload: one ``multipart/form-data`` part named ``file``."""
    policy = await policy_for(session, principal.organization_id)
    length = headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequired("Send Content-Length, or use the resumable /v1/uploads.")
    if int(length) > policy.max_request_size + _FORM_OVERHEAD:
        raise PayloadTooLarge(
            f"Files over {policy.max_request_size} bytes go through the resumable /v1/uploads.",
            max_size=policy.max_request_size,
        )
    if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise AppError("Send the file as multipart/form-data, in the part named `file`.")
    async with receiving(session, principal, body) as paced:
        parser = MultiPartParser(Headers(headers), paced, max_files=1, max_fields=10)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise AppError(exc.message) from None
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise AppError("Send the file as the form part named `file`.")
        return await _store_file(session, principal, policy, file, buffer_size=buffer_size)
    finally:
        await form.close()


async def _store_file(
    session: AsyncSession,
    principal: Principal,
    policy: UploadPolicy,
    upload: UploadFile,
    *,
    buffer_size: int,
) -> Attachment:
    """Identify, check and store the received file."""
    declared = normalize(upload.content_type)
    policy.check_declared(declared)
    attachment_id = uuid.uuid4()
    key = attachments.original_key(principal.organization_id, attachment_id)
    intake = Intake(
        _read(upload, buffer_size),
        limit=policy.max_request_size,
        head=b"",
        identify=lambda data: policy.resolve(declared, data),
    )
    stored = await get_storage().put(
        key, intake.stream(), content_type=declared or "application/octet-stream"
    )
    content_type = intake.content_type or policy.resolve(declared, b"")
    return await attachments.register(
        session,
        attachment_id=attachment_id,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        filename=clean_filename(upload.filename),
        content_type=content_type,
        size_bytes=stored.size,
        storage_key=key,
    )


async def _read(file: UploadFile, buffer_size: int) -> AsyncIterator[bytes]:
    while chunk := await file.read(buffer_size):
        yield chunk
