"""The OpenAPI document describes how to authenticate and who may call what."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.declarations import is_public
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.deps import public
from ticketcreator.main import build_openapi


def _operation(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = app.openapi()["paths"][path][method]
    return operation


def test_security_schemes_are_documented(app: FastAPI) -> None:
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["BearerAuth"]["description"],
    }
    assert schemes["ApiKeyAuth"]["type"] == "apiKey"
    assert schemes["ApiKeyAuth"]["in"] == "header"
    assert schemes["ApiKeyAuth"]["name"] == "X-API-Key"


def test_protected_routes_require_either_scheme(app: FastAPI) -> None:
    for method, path in [
        ("get", "/v1/me"),
        ("get", "/v1/members"),
        ("patch", "/v1/members/{user_id}"),
        ("post", "/v1/api-keys"),
        ("get", "/v1/audit-log"),
        ("post", "/v1/auth/logout"),
    ]:
        security = _operation(app, method, path)["security"]
        assert {"BearerAuth": []} in security, path
        assert {"ApiKeyAuth": []} in security, path


def test_public_auth_routes_need_no_credentials(app: FastAPI) -> None:
    for path in ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh"):
        operation = _operation(app, "post", path)
        assert operation["security"] == [], path  # explicitly anonymous
        assert "429" in operation["responses"]
        assert operation["tags"] == ["auth"]


def test_errors_and_one_time_secrets_are_documented(app: FastAPI) -> None:
    refresh = _operation(app, "post", "/v1/auth/refresh")
    assert "application/problem+json" in refresh["responses"]["401"]["content"]
    invite = _operation(app, "post", "/v1/invitations")
    assert "e-mailed the accept link" in invite["description"]
    assert "410" in _operation(app, "post", "/v1/invitations/accept")["responses"]


def test_the_permission_table_is_in_the_description(app: FastAPI) -> None:
    description = app.openapi()["info"]["description"]
    assert "| permission | owner | admin | agent | reporter | viewer |" in description
    for permission in Permission:
        assert f"| `{permission}` |" in description


def test_every_guarded_operation_declares_both_schemes_in_order(app: FastAPI) -> None:
    document = app.openapi()
    assert list(document["components"]["securitySchemes"]) == ["BearerAuth", "ApiKeyAuth"]
    both = [{"BearerAuth": []}, {"ApiKeyAuth": []}]
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            security = document["paths"][route.path_format][method.lower()]["security"]
            assert security == ([] if is_public(route.dependant) else both), route.path_format


def test_an_authorizer_is_documented_without_being_a_dependency_tree_at_runtime() -> None:
    """The Authorizer reads its credentials itself (no sub-dependencies to solve on every
    request); the document declares them, here for an authorizer of a dependency too."""
    authorizer = Authorizer(Permission.TICKETS_READ)

    # Defaults, not annotations: these are not names of the module.
    async def ticket(principal: Principal = Depends(authorizer)) -> None: ...

    app = FastAPI()

    @app.get("/direct")
    async def direct(principal: Principal = Depends(authorizer)) -> None: ...

    @app.get("/nested")
    async def nested(_: None = Depends(ticket)) -> None: ...

    @app.get("/open", dependencies=[Depends(public)])
    async def open_route() -> None: ...

    for route in app.routes:
        if isinstance(route, APIRoute) and route.path != "/open":
            (dependency,) = route.dependant.dependencies
            while not isinstance(dependency.call, Authorizer):
                (dependency,) = dependency.dependencies
            assert dependency.dependencies == []
    document = build_openapi(app)
    for path in ("/direct", "/nested"):
        assert document["paths"][path]["get"]["security"] == [
            {"BearerAuth": []},
            {"ApiKeyAuth": []},
        ]
    assert document["paths"]["/open"]["get"]["security"] == []
    assert list(document["components"]["securitySchemes"]) == ["BearerAuth", "ApiKeyAuth"]
