"""The FastAPI application factory."""

from __future__ import annotations

import copy
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ticketcreator import __version__, tasks
from ticketcreator.accounts import routes as accounts_routes
from ticketcreator.accounts.declarations import documented_credentials, is_public, undeclared_routes
from ticketcreator.accounts.permissions import permission_table_markdown
from ticketcreator.ai.triage import routes as ai_routes
from ticketcreator.attachments import routes as attachments_routes
from ticketcreator.captures import routes as captures_routes
from ticketcreator.core import health, reads
from ticketcreator.core.config import Settings, get_settings
from ticketcreator.core.db import UnitOfWorkRoute, finish_after_response_work
from ticketcreator.core.errors import PROBLEM_JSON, Problem, install_error_handlers
from ticketcreator.core.logging import configure_logging
from ticketcreator.core.middleware import RequestIdMiddleware
from ticketcreator.core.route_index import RouteIndex
from ticketcreator.deliveries import routes as deliveries_routes
from ticketcreator.integrations import routes as integrations_routes
from ticketcreator.notifications import preference_routes as notification_preference_routes
from ticketcreator.notifications import routes as notifications_routes
from ticketcreator.notifications import slack_routes
from ticketcreator.realtime import routes as realtime_routes
from ticketcreator.routing import routes as routing_routes
from ticketcreator.taxonomy import routes as taxonomy_routes
from ticketcreator.tickets import routes as tickets_routes
from ticketcreator.transcripts import routes as transcripts_routes
from ticketcreator.uploads import routes as uploads_routes
from ticketcreator.uploads.routes import TUS_EXPOSED_HEADERS

API_PREFIX = "/v1"

DESCRIPTION = """\
Turns what a person sees in the browser (screenshots, recordings with narration, console and
network logs, files) into complete, AI-triaged tickets.

Every error is an RFC 9457 problem detail (`application/problem+json`) with a stable `type`.
Every response carries an `X-Request-ID` header (send your own to correlate logs).
Any `/v1` request may answer 503 `concurrent-change` with `Retry-After` when the database could not
settle its conflict with concurrent changes; nothing was changed, so send it again.

## Authentication

People log in (`POST /v1/auth/login`) and send `Authorization: Bearer <access token>`; the
access token lasts minutes, the refresh token rotates on every use. Machine clients and the
Chrome extension send a scoped API key as `Authorization: ApiKey <key>` or `X-API-Key: <key>`.
Authenticated requests are rate limited per user or key (`RateLimit-*` headers); over the limit
the answer is 429 with `Retry-After`.

## Roles and permissions

Each route requires one permission. A member has the permissions of their role in the
organization; an API key has those of its role that are also among its scopes.

"""
DESCRIPTION += permission_table_markdown() + "\n"


def api_router() -> APIRouter:
    """The ``/v1`` router; every domain router is included here."""
    router = APIRouter(prefix=API_PREFIX, route_class=UnitOfWorkRoute)
    router.include_router(uploads_routes.router)
    router.include_router(attachments_routes.router)
    router.include_router(transcripts_routes.router)
    router.include_router(captures_routes.router)
    router.include_router(accounts_routes.router)
    router.include_router(tickets_routes.router)
    router.include_router(taxonomy_routes.router)
    router.include_router(ai_routes.router)
    router.include_router(deliveries_routes.router)
    router.include_router(integrations_routes.router)
    router.include_router(routing_routes.router)
    router.include_router(realtime_routes.router)
    router.include_router(notifications_routes.router)
    router.include_router(slack_routes.router)
    router.include_router(notification_preference_routes.router)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.logging.level, settings.logging.json_format)
    docs = settings.api.docs_enabled
    app = FastAPI(
        lifespan=_lifespan,
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
    app.router.middleware_stack = RouteIndex(app.router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.cors_origins,
        allow_origin_regex=settings.api.cors_origin_regex,
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "X-Request-ID",
            "ETag",
            "Location",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            *TUS_EXPOSED_HEADERS,
        ],
    )
    app.add_middleware(RequestIdMiddleware)
    if settings.api.trusted_proxies:
        # The client address (rate limits, audit log) from X-Forwarded-For, our proxies only.
        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[str(network) for network in settings.api.trusted_proxies],
        )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    undeclared = undeclared_routes(app.routes)
    if undeclared:
        raise RuntimeError("routes without an access declaration: " + ", ".join(undeclared))
    # The subscribers of every topic: this process fans its events out to them.
    tasks.load()
    return app


def create_served_app() -> FastAPI:
    """The app of an API process (``ticketcreator serve``), with what the imports and the app
    made frozen out of the garbage collector's reach (``gc.freeze``): it lives as long as the
    process, and a full collection no longer walks it. A process serving hundreds of streams
    collects often; walking everything held every connection up for a few hundred ms."""
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await finish_after_response_work()  # hand over what answered requests committed
    await reads.close()


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with validation errors documented as problem details."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=[_documented(route) for route in app.routes],
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema()
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for route in app.routes:
        if isinstance(route, APIRoute) and is_public(route.dependant):
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    operation["security"] = []  # explicitly anonymous
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            _path_parameters_in_path_order(path, operation)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status == "422" or PROBLEM_JSON in content:
                    response["content"] = {
                        PROBLEM_JSON: {**content.get(PROBLEM_JSON, {}), "schema": problem_ref}
                    }
    app.openapi_schema = schema
    return schema


def _documented(route: BaseRoute) -> BaseRoute:
    """The route as the document describes it: with the credentials its authorizer reads
    declared as security schemes (the route itself when it has no authorizer)."""
    if not isinstance(route, APIRoute):
        return route
    dependant = documented_credentials(route.dependant)
    if dependant is route.dependant:
        return route
    documented = copy.copy(route)
    documented.dependant = dependant
    return documented


def _path_parameters_in_path_order(path: str, operation: dict[str, Any]) -> None:
    """List path parameters in the order the path names them (a parameter declared by a
    dependency, such as the ticket of ``/tickets/{ticket_ref}/...``, would come last)."""
    parameters = operation.get("parameters")
    if not parameters:
        return
    position = {name: path.find("{" + name + "}") for name in (p["name"] for p in parameters)}
    in_path = sorted(
        (p for p in parameters if p["in"] == "path"), key=lambda p: position[p["name"]]
    )
    slots = iter(in_path)
    operation["parameters"] = [next(slots) if p["in"] == "path" else p for p in parameters]
