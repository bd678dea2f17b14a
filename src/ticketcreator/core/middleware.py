"""ASGI middleware: request id propagation, headers every answer carries, access logging."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketcreator.core.logging import request_id_var

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_ANSWER_HEADERS = "answer_headers"

log = logging.getLogger("ticketcreator.access")


def answer_with(request: Request, headers: Mapping[str, str]) -> None:
    """Give whatever answers ``request`` these headers, unless it has its own (a 429 its
    limit's): the route's response, one it writes itself (a 304, a file, a tus reply), or an
    error's. :class:`RequestIdMiddleware` adds them as the answer starts; headers set on the
    route's ``Response`` parameter reach only a response FastAPI writes."""
    pairs = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    setattr(request.state, _ANSWER_HEADERS, pairs)  # the key the middleware reads


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from the client or makes one, puts it in every
    log line of the request and in the response, adds the headers given for every answer
    (:func:`answer_with`), and writes the request's access log line: method, path, query
    (its credentials masked), client address, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = (value for name, value in scope["headers"] if name == REQUEST_ID_HEADER)
        incoming = next(sent, b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0
        state = scope.setdefault("state", {})  # the request's (``Request.state``)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if given := state.get(_ANSWER_HEADERS):
                    own = {name for name, _ in headers}
                    headers.extend(pair for pair in given if pair[0] not in own)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            extra = {
                "method": scope.get("method", "WS"),
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if query := scope.get("query_string"):
                extra["query"] = query.decode("latin-1")  # credentials masked by the filter
            if client := scope.get("client"):
                extra["client"] = client[0]
            log.info("request", extra=extra)
            request_id_var.reset(token)
