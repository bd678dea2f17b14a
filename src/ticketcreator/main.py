"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from ticketcreator import __version__
from ticketcreator.accounts.auth import undeclared_routes
from ticketcreator.core import health
from ticketcreator.core.config import Settings, get_settings
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.errors import PROBLEM_JSON, Problem, install_error_handlers
from ticketcreator.core.logging import configure_logging
from ticketcreator.core.middleware import RequestIdMiddleware

API_PREFIX = "/v1"

DESCRIPTION = """\
Turns what a person sees in the browser (screenshots, recordings with narration, console and
network logs, files) into complete, AI-triaged tickets.

Every error is an RFC 9457 problem detail (`application/problem+json`) with a stable `type`.
Every response carries an `X-Request-ID` header (send your own to correlate logs).
"""


def api_router() -> APIRouter:
    """The ``/v1`` router; every domain router is included here."""
    router = APIRouter(prefix=API_PREFIX, route_class=UnitOfWorkRoute)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.logging.level, settings.logging.json_format)
    docs = settings.api.docs_enabled
    app = FastAPI(
        title=settings.app.name,
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router())
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.cors_origins,
        allow_origin_regex=settings.api.cors_origin_regex,
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "ETag", "Location", "Retry-After"],
    )
    app.add_middleware(RequestIdMiddleware)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    undeclared = undeclared_routes(app.routes)
    if undeclared:
        raise RuntimeError("routes without an access declaration: " + ", ".join(undeclared))
    return app


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with validation errors documented as problem details."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema()
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status == "422" or PROBLEM_JSON in content:
                    response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
    app.openapi_schema = schema
    return schema
