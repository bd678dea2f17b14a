"""The real-time stream: ``/v1/stream`` as a WebSocket, and as Server-Sent Events.

Both carry the same events (see :mod:`ticketcreator.realtime.events`) for one scope:
the organization (default), one ticket (``scope=ticket&ticket=T-12``) or the caller's own
tickets (``scope=mine``). A client resumes after a reconnect with the id of the last event
it received (``Last-Event-ID`` for SSE, ``last_event_id`` for a WebSocket); the events in
between are replayed, or a ``stream.reset`` says they are no longer kept.

WebSocket authentication never travels in the URL (URLs end up in access logs): send the
usual ``Authorization``/``X-API-Key`` header, offer the subprotocols ``ticketcreator`` and
``ticketcreator.bearer.<access token>`` (or ``ticketcreator.apikey.<key>``), or send
``{"type": "auth", "token": "..."}`` (or ``"api_key"``) as the first message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError
from starlette.websockets import WebSocketState

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import (
    AppError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    documented,
)
from ticketcreator.realtime import service
from ticketcreator.realtime.errors import InvalidEventId, InvalidScope, SlowClient
from ticketcreator.realtime.events import ScopeKind
from ticketcreator.realtime.service import Credential, Frame, FrameKind, Stream

log = logging.getLogger(__name__)

router = APIRouter(route_class=UnitOfWorkRoute)

SUBPROTOCOL = "ticketcreator"
_BEARER = SUBPROTOCOL + ".bearer."
_API_KEY = SUBPROTOCOL + ".apikey."

ScopeParam = Annotated[
    ScopeKind,
    Query(description="`organization`, `ticket` (with `ticket`) or `mine`."),
]
TicketParam = Annotated[
    str | None, Query(max_length=40, description="The ticket of `scope=ticket`: id or `T-<n>`.")
]
CanRead = Annotated[Principal, Depends(Authorizer(service.STREAM_PERMISSION))]


def _credential_of_headers(headers: Any) -> Credential | None:
    api_key = headers.get("x-api-key")
    if api_key:
        return Credential(api_key=api_key)
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(token=value.strip())
    if scheme.lower() == "apikey" and value.strip():
        return Credential(api_key=value.strip())
    return None


def _credential_of_protocols(protocols: list[str]) -> Credential | None:
    for protocol in protocols:
        if protocol.startswith(_BEARER):
            return Credential(token=protocol.removeprefix(_BEARER))
        if protocol.startswith(_API_KEY):
            return Credential(api_key=protocol.removeprefix(_API_KEY))
    return None


def _credential_of_message(message: dict[str, Any]) -> Credential | None:
    if message.get("type") != "auth":
        return None
    token, api_key = message.get("token"), message.get("api_key")
    if isinstance(token, str) and token:
        return Credential(token=token)
    if isinstance(api_key, str) and api_key:
        return Credential(api_key=api_key)
    return None


@router.websocket("/stream")
async def stream_socket(
    websocket: WebSocket,
    scope: ScopeParam = ScopeKind.ORGANIZATION,
    ticket: TicketParam = None,
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
) -> None:
    """The stream over a WebSocket (JSON text frames)."""
    protocols = list(websocket.scope.get("subprotocols") or [])
    credential = _credential_of_headers(websocket.headers) or _credential_of_protocols(protocols)
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in protocols else None)
    cfg = get_settings().realtime
    try:
        if credential is None:
            message = await _receive_json(websocket, cfg.auth_timeout_s)
            credential = _credential_of_message(message)
            if credential is None:
                raise Unauthorized('Send `{"type": "auth", "token": ...}` first.')
            last_event_id = message.get("last_event_id") or last_event_id
        stream = await service.open_stream(credential, scope, ticket, last_event_id)
        await _serve(websocket, stream)
    except AppError as error:
        await _close(websocket, 4000 + error.status, error.detail or error.title)
    except RedisError as error:
        log.warning("stream unavailable: Redis failed", extra={"error": str(error)})
        await _close(websocket, 1013, "The stream is unavailable; reconnect shortly.")
    except WebSocketDisconnect:
        pass


async def _receive_json(websocket: WebSocket, wait_s: float) -> dict[str, Any]:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), wait_s)
    except TimeoutError:
        raise Unauthorized("No auth message arrived in time.") from None
    try:
        message = json.loads(text)
    except ValueError:
        raise Unauthorized("The auth message is not JSON.") from None
    if not isinstance(message, dict):
        raise Unauthorized("The auth message is not a JSON object.")
    return message


async def _serve(websocket: WebSocket, stream: Stream) -> None:
    """Send frames until the client leaves; read its messages (token renewal) meanwhile."""
    sender = asyncio.create_task(_send_frames(websocket, stream))
    receiver = asyncio.create_task(_receive_messages(websocket, stream))
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await asyncio.gather(sender, receiver, return_exceptions=False)
    for task in done:
        task.result()  # re-raise an AppError to close with its code


async def _send_frames(websocket: WebSocket, stream: Stream) -> None:
    stream.sender = asyncio.current_task()
    try:
        async with contextlib.aclosing(stream.frames()) as frames:
            async for frame in frames:
                await websocket.send_text(_socket_text(frame))
    except asyncio.CancelledError:
        if stream.stalled:  # the hub gave up on a frame the client did not take in time
            raise SlowClient("The client did not take a message in time.") from None
        raise


def _socket_text(frame: Frame) -> str:
    if frame.kind is FrameKind.EVENT:
        assert frame.body is not None
        return frame.body
    body: dict[str, Any] = {"type": frame.kind.value}
    if frame.id is not None:
        body["last_event_id"] = frame.id
    if frame.body is not None:
        body["detail"] = frame.body
    return json.dumps(body)


async def _receive_messages(websocket: WebSocket, stream: Stream) -> None:
    while True:
        text = await websocket.receive_text()
        with contextlib.suppress(ValueError):
            message = json.loads(text)
            credential = _credential_of_message(message) if isinstance(message, dict) else None
            if credential is not None:
                stream.renew(credential)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):  # the client may be gone or not reading
        await asyncio.wait_for(
            websocket.close(code=code, reason=reason.encode()[:120].decode(errors="ignore")),
            get_settings().realtime.send_timeout_s,
        )


@router.get(
    "/stream",
    tags=["stream"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `stream.ready`, the events, `stream.heartbeat`"
            " comments, `stream.reset` when events after `Last-Event-ID` are no longer kept.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **documented(
            Unauthorized, Forbidden, NotFound, InvalidScope, InvalidEventId, TooManyRequests
        ),
    },
)
async def stream_events(
    request: Request,
    session: Session,
    principal: CanRead,
    scope: ScopeParam = ScopeKind.ORGANIZATION,
    ticket: TicketParam = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=40, description="Resume after this event."),
    ] = None,
) -> StreamingResponse:
    """Events of the organization, one ticket or the caller's own tickets, as they happen.

    The same stream is served as a WebSocket on this path (`wss://…/v1/stream`), with JSON
    text frames; see the API description for how a WebSocket authenticates.
    """
    credential = _credential_of_headers(request.headers)
    assert credential is not None  # the Authorizer accepted one of these headers
    stream = await service.start(session, principal, credential, scope, ticket, last_event_id)
    return StreamingResponse(
        _sse(stream),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(stream: Stream) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    try:
        async for frame in stream.frames():
            yield _sse_text(frame)
    except AppError as error:  # the stream ends; the client reconnects with Last-Event-ID
        yield f"event: stream.closed\ndata: {json.dumps({'status': error.status})}\n\n"
    except RedisError as error:
        log.warning("stream unavailable: Redis failed", extra={"error": str(error)})
        yield f"event: stream.closed\ndata: {json.dumps({'status': 503})}\n\n"


def _sse_text(frame: Frame) -> str:
    if frame.kind is FrameKind.HEARTBEAT:
        return ": heartbeat\n\n"
    if frame.kind is FrameKind.EVENT:
        return f"id: {frame.id}\nevent: {frame.type}\ndata: {frame.body}\n\n"
    data = json.dumps({"last_event_id": frame.id, "detail": frame.body})
    return f"id: {frame.id}\nevent: {frame.kind.value}\ndata: {data}\n\n"
