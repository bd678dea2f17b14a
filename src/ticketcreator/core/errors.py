"""Errors as RFC 9457 problem details (``application/problem+json``).

Domain code raises :class:`AppError` subclasses; one set of handlers renders them, request
validation failures (422 with field details), HTTP errors (404, 405, ...) and unexpected
exceptions (500, without internals) in the same shape. Each error class has a stable
``type`` URI so clients can branch on it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://docs.ticketcreator.dev/problems/"

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """An RFC 9457 problem detail; extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    @classmethod
    def type_uri(cls) -> str:
        return TYPE_BASE + cls.slug

    def to_problem(self, instance: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        body.update(self.extensions)
        return body

    @classmethod
    def example(cls) -> dict[str, Any]:
        """An OpenAPI example of this error's problem body."""
        return {
            "summary": cls.title,
            "value": {"type": cls.type_uri(), "title": cls.title, "status": cls.status},
        }


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class PreconditionFailed(AppError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class Gone(AppError):
    status = 410
    slug = "gone"
    title = "No longer available"


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RangeNotSatisfiable(AppError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"


class UnprocessableEntity(AppError):
    status = 422
    slug = "unprocessable-entity"
    title = "Request could not be processed"


class TooManyRequests(AppError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


class ConcurrentChange(ServiceUnavailable):
    """The database failed the request to resolve a conflict with concurrent changes, more
    often than the request may be run again; nothing was changed."""

    slug = "concurrent-change"
    title = "Concurrent change"


def documented(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route from the errors it may raise.

    Errors sharing a status share its one response: the description names every problem
    type, and there is one example of each.
    """
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        group = by_status.setdefault(error.status, [])
        if error not in group:
            group.append(error)
    return {
        status: {
            "description": "; ".join(f"{e.title} (`{e.type_uri()}`)" for e in group),
            "content": {
                PROBLEM_JSON: {
                    "schema": Problem.model_json_schema(),
                    "examples": {e.slug: e.example() for e in group},
                }
            },
        }
        for status, group in sorted(by_status.items())
    }


def problem_response(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed"}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(exc.status, exc.to_problem(request.url.path), exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    body = {
        "type": TYPE_BASE + _HTTP_SLUGS.get(status, phrase.lower().replace(" ", "-")),
        "title": phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    return problem_response(status, body, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": ".".join(str(part) for part in error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]
    body = {
        "type": TYPE_BASE + "validation-error",
        "title": "Request validation failed",
        "status": 422,
        "detail": f"{len(errors)} field(s) failed validation",
        "instance": request.url.path,
        "errors": errors,
    }
    return problem_response(422, body)


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into a 500 problem without internals, and logs it.

    It sits inside the request-id middleware, so the answer and the log line carry the
    request id (Starlette's own last-resort handler runs outside every middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if started:
                raise
            body = {
                "type": TYPE_BASE + "internal-error",
                "title": "Internal server error",
                "status": 500,
                "detail": "An unexpected error occurred; it has been logged.",
                "instance": scope["path"],
            }
            await problem_response(500, body)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(UnhandledErrorMiddleware)
