"""REST API of captures: ``POST /v1/captures`` from the browser extension, and reading them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.captures import service
from ticketcreator.captures.errors import InvalidCaptureMedia
from ticketcreator.captures.schemas import CaptureCreate, CaptureLimits, CaptureList, CaptureRead
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.taxonomy.errors import InvalidCustomFields
from ticketcreator.tickets.deps import CanRead, ReadableTicket
from ticketcreator.tickets.errors import (
    IdempotencyKeyReused,
    InvalidAssignee,
    InvalidReference,
)

CaptureWriter = Annotated[Principal, Depends(Authorizer(Permission.CAPTURES_WRITE))]
_AUTH = (Unauthorized, Forbidden)

router = APIRouter(tags=["captures"], route_class=UnitOfWorkRoute)


@router.post(
    "/captures",
    status_code=status.HTTP_201_CREATED,
    response_model=CaptureRead,
    responses=documented(
        *_AUTH,
        NotFound,
        InvalidCaptureMedia,
        InvalidReference,
        InvalidAssignee,
        InvalidCustomFields,
        IdempotencyKeyReused,
    ),
)
async def create_capture(
    data: CaptureCreate,
    response: Response,
    session: Session,
    principal: CaptureWriter,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Makes retries safe: a repeat gets the first response, never a "
            "second capture or ticket (remembered for `idempotency_ttl_h` hours).",
        ),
    ] = None,
) -> CaptureRead:
    """Store what the extension captured, with a new ticket (`ticket`) or an existing one
    (`ticket_id`, 404 if the caller cannot see it).

    The media must be uploaded first. Authorization, Cookie and API-key headers, tokens in
    query strings and secret-looking body fields are replaced by `[REDACTED]` before
    storage; `secrets_removed` counts them. Recordings are transcribed and screenshots read
    afterwards; their text appears in `texts` and in the ticket's search.
    """
    capture, replayed = await service.create_capture(session, principal, data, idempotency_key)
    response.headers["Location"] = f"/v1/captures/{capture.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return capture


@router.get(
    "/captures/limits",
    response_model=CaptureLimits,
    responses=documented(*_AUTH),
)
async def capture_limits(session: Session, principal: CaptureWriter) -> CaptureLimits:
    """The organization's limits for what the extension records and uploads: the longest
    recording, the largest upload and the accepted content types."""
    return await service.limits(session, principal)


@router.get(
    "/captures/{capture_id}",
    response_model=CaptureRead,
    responses=documented(*_AUTH, NotFound),
)
async def get_capture(capture_id: uuid.UUID, session: Session, principal: CanRead) -> CaptureRead:
    """A capture with its logs, media and their text (if the caller can see its ticket)."""
    return await service.get_capture(session, principal, capture_id)


@router.get(
    "/tickets/{ticket_ref}/captures",
    response_model=CaptureList,
    responses=documented(*_AUTH, NotFound),
)
async def list_ticket_captures(ticket: ReadableTicket, session: Session) -> CaptureList:
    """A ticket's captures, oldest first, without their console and network logs."""
    return await service.list_captures(session, ticket)
