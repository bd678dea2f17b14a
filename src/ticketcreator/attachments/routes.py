"""Attachments: the single-request upload, metadata, downloads with Range, signed links.

Downloads are streamed after the unit of work has committed and released its database
connection: the handler only looks the file up, the body is sent afterwards. Uploads are
read the same way round: authorized first, then the body arrives without a connection held.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.attachments import flows, service
from ticketcreator.attachments.downloads import DOWNLOAD_RESPONSES, serve
from ticketcreator.attachments.schemas import ORIGINAL, AttachmentRead, SignedUrl, SignedUrlRequest
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import (
    AppError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    documented,
)
from ticketcreator.storage import get_storage
from ticketcreator.uploads import form as upload_form
from ticketcreator.uploads.errors import BodyTimeout, LengthRequired

CaptureWriter = Annotated[Principal, Depends(Authorizer(Permission.CAPTURES_WRITE))]
Reader = Annotated[Principal, Depends(Authorizer(Permission.ATTACHMENTS_READ))]
RangeHeader = Annotated[
    str | None, Header(alias="Range", description="One range, e.g. `bytes=0-1023`.")
]
IfRange = Annotated[str | None, Header(description="Honour Range only if the ETag matches.")]
IfNoneMatch = Annotated[str | None, Header()]
DownloadFlag = Annotated[
    bool | None,
    Query(description="true: `attachment` (save); false: `inline`; default: inline for media."),
]

router = APIRouter(tags=["attachments"], route_class=UnitOfWorkRoute)
_AUTH = (Unauthorized, Forbidden)


@router.post(
    "/attachments",
    status_code=201,
    response_model=AttachmentRead,
    summary="Upload a small file in one request",
    description=(
        "`multipart/form-data` with one part named `file`, up to `uploads.max_request_size` "
        "(25 MiB by default; larger files use the resumable `/v1/uploads`). The type is "
        "identified from the bytes; a type that contradicts the declared one, or that the "
        "organization does not accept, is refused with 415. A body that sends nothing for "
        "`uploads.body_read_timeout_s` is refused with 408; a caller may send "
        "`uploads.max_concurrent_per_principal` uploads at once (429 with `Retry-After`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
    responses=documented(
        AppError,
        *_AUTH,
        LengthRequired,
        PayloadTooLarge,
        UnsupportedMediaType,
        BodyTimeout,
        TooManyRequests,
    ),
)
async def upload_attachment(
    request: Request, principal: CaptureWriter, session: Session
) -> AttachmentRead:
    attachment = await upload_form.store_form(
        session,
        principal,
        request.headers,
        request.stream(),
        buffer_size=get_settings().storage.io_buffer_size,
    )
    return service.to_read(attachment)


@router.get(
    "/attachments/{attachment_id}",
    response_model=AttachmentRead,
    summary="An attachment with its processing state, media details and derivatives",
    responses=documented(*_AUTH, NotFound),
)
async def get_attachment(
    attachment_id: uuid.UUID, principal: Reader, session: Session
) -> AttachmentRead:
    return service.to_read(await flows.readable(session, principal, attachment_id))


@router.get(
    "/attachments/{attachment_id}/content",
    summary="Download the file (supports Range)",
    response_class=Response,
    responses={**DOWNLOAD_RESPONSES, **documented(*_AUTH, NotFound, RangeNotSatisfiable)},
)
async def download_attachment(
    attachment_id: uuid.UUID,
    principal: Reader,
    session: Session,
    range_header: RangeHeader = None,
    if_range: IfRange = None,
    if_none_match: IfNoneMatch = None,
    download: DownloadFlag = None,
) -> Response:
    attachment = await flows.readable(session, principal, attachment_id)
    return await serve(
        get_storage(),
        service.stored_file(attachment, ORIGINAL),
        range_header=range_header,
        if_range=if_range,
        if_none_match=if_none_match,
        download=download,
    )


@router.get(
    "/attachments/{attachment_id}/derivatives/{name}",
    summary="Download a derivative: `poster`, `thumbnail` or `audio` (supports Range)",
    response_class=Response,
    responses={**DOWNLOAD_RESPONSES, **documented(*_AUTH, NotFound, RangeNotSatisfiable)},
)
async def download_derivative(
    attachment_id: uuid.UUID,
    name: str,
    principal: Reader,
    session: Session,
    range_header: RangeHeader = None,
    if_range: IfRange = None,
    if_none_match: IfNoneMatch = None,
    download: DownloadFlag = None,
) -> Response:
    attachment = await flows.readable(session, principal, attachment_id)
    return await serve(
        get_storage(),
        service.stored_file(attachment, name),
        range_header=range_header,
        if_range=if_range,
        if_none_match=if_none_match,
        download=download,
    )


@router.post(
    "/attachments/{attachment_id}/signed-urls",
    status_code=201,
    response_model=SignedUrl,
    summary="A short-lived link to the file that works without credentials",
    description="For notifications and integrations. Anyone holding the link can download "
    "the file until it expires.",
    responses=documented(AppError, *_AUTH, NotFound),
)
async def create_signed_url(
    attachment_id: uuid.UUID, data: SignedUrlRequest, principal: Reader, session: Session
) -> SignedUrl:
    attachment = await flows.readable(session, principal, attachment_id)
    return service.signed_url(attachment, data)


@router.get(
    "/signed/attachments/{attachment_id}/{variant}",
    summary="Download through a signed link",
    description="Public: the signature is the authorization. With S3 storage the response "
    "redirects (307) to a presigned S3 URL.",
    dependencies=[Depends(public)],
    response_class=Response,
    responses={
        **DOWNLOAD_RESPONSES,
        307: {"description": "Redirect to the storage service's own signed URL."},
        **documented(Forbidden, NotFound, RangeNotSatisfiable),
    },
)
async def signed_download(
    attachment_id: uuid.UUID,
    variant: str,
    session: Session,
    expires: Annotated[int, Query(description="Unix time the link expires.")],
    kid: Annotated[str, Query(max_length=64)],
    signature: Annotated[str, Query(max_length=128)],
    download: Annotated[bool, Query()] = False,
    range_header: RangeHeader = None,
    if_range: IfRange = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    attachment = await service.get_signed(
        session,
        attachment_id,
        variant,
        expires=expires,
        download=download,
        kid=kid,
        signature=signature,
    )
    stored = service.stored_file(attachment, variant)
    storage = get_storage()
    remaining = expires - int(datetime.now(UTC).timestamp())
    presigned = await storage.presign(
        stored.key,
        expires_s=max(1, min(get_settings().storage.s3_presign_ttl_s, remaining)),
        filename=stored.filename,
        content_type=stored.content_type,
        inline=not download,
    )
    if presigned is not None:
        return RedirectResponse(presigned, status_code=307)
    return await serve(
        storage,
        stored,
        range_header=range_header,
        if_range=if_range,
        if_none_match=if_none_match,
        download=download,
    )
