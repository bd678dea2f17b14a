"""ASGI middleware: request id propagation and access logging."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketcreator.core.logging import request_id_var

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = logging.getLogger("ticketcreator.access")


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from the client or makes one, puts it in every
    log line of the request and in the response, and writes the request's access log line:
    method, path, query (its credentials masked), client address, status and duration."""

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

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
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
