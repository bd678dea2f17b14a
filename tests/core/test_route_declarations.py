from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

from ticketcreator.accounts.auth import Authorizer
from ticketcreator.accounts.declarations import undeclared_routes
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.deps import public
from ticketcreator.main import create_app


def test_every_route_of_the_app_declares_who_may_call_it(app: FastAPI) -> None:
    assert undeclared_routes(app.routes) == []


def test_a_route_without_a_declaration_is_found() -> None:
    router = APIRouter()

    @router.get("/open", dependencies=[Depends(public)])
    async def open_route() -> None: ...

    @router.get("/guarded")
    async def guarded(_: Any = Depends(Authorizer(Permission.TICKETS_READ))) -> None: ...

    @router.get("/forgotten")
    async def forgotten() -> None: ...

    probe = FastAPI()
    probe.include_router(router)
    assert undeclared_routes(probe.routes) == ["['GET'] /forgotten"]


def test_the_app_refuses_to_start_with_an_undeclared_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ticketcreator.main as main

    original = main.api_router

    def with_forgotten_route() -> APIRouter:
        router = original()

        @router.get("/forgotten")
        async def forgotten() -> None: ...

        return router

    monkeypatch.setattr(main, "api_router", with_forgotten_route)
    with pytest.raises(RuntimeError, match="/v1/forgotten"):
        create_app()
