from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from tests.support.routes import RouteRecorder


def _app() -> FastAPI:
    router = APIRouter(prefix="/v1")

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @router.delete("/things/{thing_id}")
    async def delete_thing(thing_id: int) -> None: ...

    @router.websocket("/live")
    async def live() -> None: ...

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    return app


async def test_the_gate_names_routes_no_test_called() -> None:
    recorder = RouteRecorder()
    app = _app()
    transport = httpx.ASGITransport(app=recorder.wrap(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gate") as http:
        assert (await http.get("/v1/things/7")).status_code == 200
        assert (await http.get("/v1/unknown")).status_code == 404
    assert recorder.called == {("GET", "/v1/things/{thing_id}")}
    assert recorder.missing() == [
        ("DELETE", "/v1/things/{thing_id}"),
        ("WEBSOCKET", "/v1/live"),
    ]
