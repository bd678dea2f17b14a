"""tus 1.0.0 resumable uploads: ``OPTIONS``/``POST /v1/uploads``, ``HEAD``/``PATCH``/``DELETE
/v1/uploads/{id}``. Extensions: creation, creation-with-upload, termination, checksum
(sha1, sha256), expiration.

The PATCH body is read from the socket in chunks and streamed to storage without a database
connection (the request is authorized and checked first, then its connection is released);
the new offset is recorded in a short transaction after the body has been stored, so a
committed offset always has its bytes behind it and slow clients cannot exhaust the pool.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Coroutine
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    documented,
)
from ticketcreator.uploads import service
from ticketcreator.uploads.errors import BodyTimeout, ChecksumMismatch, UploadLocked
from ticketcreator.uploads.intake import CHECKSUM_ALGORITHMS, Checksum
from ticketcreator.uploads.models import Upload

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
CHECKSUM_HEADER = "`sha1 <base64 digest>` or `sha256 <base64 digest>`"
# Response headers a tus client in a browser must be able to read (CORS).
TUS_EXPOSED_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
)

CaptureWriter = Annotated[Principal, Depends(Authorizer(Permission.CAPTURES_WRITE))]


class TusRoute(UnitOfWorkRoute):
    """Every tus response, errors included, carries ``Tus-Resumable``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                exc.headers.setdefault("Tus-Resumable", TUS_VERSION)
                raise
            response.headers.setdefault("Tus-Resumable", TUS_VERSION)
            return response

        return run


def tus_resumable(
    tus_resumable: Annotated[
        str | None, Header(description="The protocol version; must be `1.0.0`.")
    ] = None,
) -> None:
    if tus_resumable != TUS_VERSION:
        raise PreconditionFailed(
            f"Send `Tus-Resumable: {TUS_VERSION}`.", headers={"Tus-Version": TUS_VERSION}
        )


router = APIRouter(prefix="/uploads", tags=["uploads"], route_class=TusRoute)
_TUS = [Depends(tus_resumable)]


def _header(description: str) -> dict[str, Any]:
    return {"schema": {"type": "string"}, "description": description}


_STATE_HEADERS = {
    "Tus-Resumable": _header("`1.0.0`"),
    "Upload-Offset": _header("Bytes received so far: resume from here."),
    "Upload-Expires": _header("When an unfinished upload will be removed (HTTP date)."),
}
_AUTH = (Unauthorized, Forbidden, PreconditionFailed)


def state_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.received), "Cache-Control": "no-store"}
    if not upload.is_complete:
        headers["Upload-Expires"] = format_datetime(upload.expires_at, usegmt=True)
    return headers


def _encoded_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items()
    )


def _is_offset_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == OFFSET_STREAM


@router.options(
    "",
    status_code=204,
    summary="tus discovery: version, extensions, limits",
    dependencies=[Depends(public)],
    responses={
        204: {
            "description": "What this server supports.",
            "headers": {
                "Tus-Version": _header("Supported protocol versions."),
                "Tus-Extension": _header(TUS_EXTENSIONS),
                "Tus-Max-Size": _header("Largest upload accepted, in bytes."),
                "Tus-Checksum-Algorithm": _header("sha1,sha256"),
            },
        }
    },
)
async def discover() -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(get_settings().uploads.max_upload_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@router.post(
    "",
    status_code=201,
    summary="Create an upload (optionally with its first chunk)",
    description=(
        "tus creation. `Upload-Metadata` carries `filename` and `filetype` (base64). With "
        "`Content-Type: application/offset+octet-stream` the body is the first chunk "
        "(creation-with-upload). When the last byte arrives the upload becomes the "
        "attachment with the same id."
    ),
    dependencies=_TUS,
    response_class=Response,
    responses={
        201: {
            "description": "Created.",
            "headers": {"Location": _header("URL of the upload."), **_STATE_HEADERS},
        },
        **documented(
            AppError,
            *_AUTH,
            PayloadTooLarge,
            UnsupportedMediaType,
            ChecksumMismatch,
            BodyTimeout,
            TooManyRequests,
        ),
    },
)
async def create_upload(
    request: Request,
    principal: CaptureWriter,
    session: Session,
    upload_length: Annotated[int | None, Header(ge=0, description="Size in bytes.")] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header(description=CHECKSUM_HEADER)] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    if upload_length is None:
        raise AppError("Upload-Length is required (deferred length is not supported).")
    with_body = _is_offset_stream(content_type)
    upload = await service.create(
        session,
        principal,
        length=upload_length,
        metadata_header=upload_metadata,
        body=request.stream() if with_body else None,
        checksum=Checksum.parse(upload_checksum) if with_body else None,
    )
    return Response(
        status_code=201,
        headers={
            "Location": f"{request.url.path.rstrip('/')}/{upload.id}",
            **state_headers(upload),
        },
    )


@router.head(
    "/{upload_id}",
    summary="Current offset of an upload (resume after a disconnect)",
    dependencies=_TUS,
    response_class=Response,
    responses={
        200: {
            "description": "The upload's state.",
            "headers": {
                **_STATE_HEADERS,
                "Upload-Length": _header("Total size in bytes."),
                "Upload-Metadata": _header("The metadata given at creation."),
            },
        },
        **documented(*_AUTH, NotFound, Gone),
    },
)
async def upload_state(
    upload_id: uuid.UUID, principal: CaptureWriter, session: Session
) -> Response:
    upload = await service.get(session, principal, upload_id)
    headers = {**state_headers(upload), "Upload-Length": str(upload.length)}
    if upload.metadata_:
        headers["Upload-Metadata"] = _encoded_metadata(upload.metadata_)
    return Response(status_code=200, headers=headers)


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="Append a chunk at the current offset",
    description=(
        "The body (`Content-Type: application/offset+octet-stream`) is written at "
        "`Upload-Offset`, which must equal the current offset (else 409). With "
        "`Upload-Checksum: sha1|sha256 <base64>` a mismatching chunk is refused with 460 and "
        "nothing is written. If the connection drops, the bytes that arrived are kept. A "
        "`Content-Length` larger than `uploads.max_chunk_size` or than what the upload still "
        "lacks is refused (413) before the body is read; a body that sends nothing for "
        "`uploads.body_read_timeout_s` is refused (408, nothing of it is kept); a caller may "
        "send `uploads.max_concurrent_per_principal` uploads at once (429 with `Retry-After`)."
    ),
    dependencies=_TUS,
    response_class=Response,
    responses={
        204: {"description": "Chunk stored.", "headers": _STATE_HEADERS},
        **documented(
            AppError,
            *_AUTH,
            NotFound,
            Conflict,
            Gone,
            PayloadTooLarge,
            UnsupportedMediaType,
            UploadLocked,
            ChecksumMismatch,
            BodyTimeout,
            TooManyRequests,
        ),
    },
)
async def append_chunk(
    request: Request,
    upload_id: uuid.UUID,
    principal: CaptureWriter,
    session: Session,
    upload_offset: Annotated[int | None, Header(ge=0)] = None,
    upload_checksum: Annotated[str | None, Header(description=CHECKSUM_HEADER)] = None,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[int | None, Header(ge=0)] = None,
) -> Response:
    if not _is_offset_stream(content_type):
        raise UnsupportedMediaType(f"A chunk must be sent as {OFFSET_STREAM}.")
    if upload_offset is None:
        raise AppError("Upload-Offset is required.")
    upload = await service.append(
        session,
        principal,
        upload_id,
        offset=upload_offset,
        body=request.stream(),
        checksum=Checksum.parse(upload_checksum),
        content_length=content_length,
    )
    return Response(status_code=204, headers=state_headers(upload))


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="Abandon an unfinished upload (termination)",
    dependencies=_TUS,
    response_class=Response,
    responses={
        204: {"description": "Removed with the bytes received so far."},
        **documented(*_AUTH, NotFound, Conflict, UploadLocked),
    },
)
async def terminate_upload(
    upload_id: uuid.UUID, principal: CaptureWriter, session: Session
) -> Response:
    await service.terminate(session, principal, upload_id)
    return Response(status_code=204)
