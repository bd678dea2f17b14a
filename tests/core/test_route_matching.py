"""Route matching: the route index passes over the routes whose path does not start as the
request's, without their regular expressions, and answers every request as the router does."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from ticketcreator.core.route_index import RouteIndex


def _app(indexed: bool) -> FastAPI:
    router = APIRouter(prefix="/v1")

    @router.get("/things")
    async def list_things() -> str:
        return "list"

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> str:
        return f"get {thing_id}"

    @router.patch("/things/{thing_id}")
    async def patch_thing(thing_id: int) -> str:
        return f"patch {thing_id}"

    @router.get("/things/{thing_id}/parts/{part}")
    async def get_part(thing_id: int, part: str) -> str:
        return f"part {thing_id} {part}"

    @router.get("/things-old")
    async def old_things() -> str:
        return "old"

    @router.get("/files/{name:path}")
    async def get_file(name: str) -> str:
        return f"file {name}"

    @router.delete("/slashed/")
    async def delete_slashed() -> str:
        return "slashed"

    @router.get("/{anything}/at-root")
    async def at_root(anything: str) -> str:
        return f"root {anything}"

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    if indexed:
        app.router.middleware_stack = RouteIndex(app.router)
    return app


REQUESTS = [
    ("GET", "/v1/things"),
    ("GET", "/v1/things/"),  # redirected to /v1/things
    ("GET", "/v1/things/7"),
    ("PATCH", "/v1/things/7"),
    ("DELETE", "/v1/things/7"),  # 405, Allow: GET (the first route of the path)
    ("POST", "/v1/things"),  # 405
    ("GET", "/v1/things/7/"),  # redirected to /v1/things/7
    ("GET", "/v1/things/x"),  # 422: matched, not an int
    ("GET", "/v1/things/7/parts/a"),
    ("GET", "/v1/things/7/parts"),  # 404
    ("GET", "/v1/things-old"),
    ("GET", "/v1/thing"),  # 404: a prefix of a route's prefix
    ("GET", "/v1/files/a/b.txt"),
    ("GET", "/v1/files/"),  # the path converter matches the empty name
    ("DELETE", "/v1/slashed"),  # redirected to /v1/slashed/
    ("DELETE", "/v1/slashed/"),
    ("GET", "/v1/x/at-root"),
    ("GET", "/v2/things"),  # 404
    ("GET", "/"),
    ("GET", "/v1"),
]


async def _answers(app: FastAPI, root_path: str) -> list[tuple[int, str | None, str | None, str]]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for method, path in REQUESTS:
            response = await http.request(method, root_path + path)
            answers.append(
                (
                    response.status_code,
                    response.headers.get("allow"),
                    response.headers.get("location"),
                    response.text,
                )
            )
    return answers


@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_the_index_answers_every_request_as_the_router(root_path: str) -> None:
    ours = await _answers(_app(indexed=True), root_path)
    assert ours == await _answers(_app(indexed=False), root_path)
    by_request = dict(zip(REQUESTS, ours, strict=True))
    assert by_request["GET", "/v1/things/7"][0] == 200
    assert by_request["GET", "/v1/things/7"][3] == '"get 7"'
    assert by_request["DELETE", "/v1/things/7"][:2] == (405, "GET")
    assert by_request["GET", "/v1/thing"][0] == 404
    assert by_request["GET", "/v1/things/"][:3] == (307, None, f"http://test{root_path}/v1/things")
    assert by_request["DELETE", "/v1/slashed"][0] == 307


@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_routes_of_other_paths_are_passed_over_without_their_regex(root_path: str) -> None:
    app = _app(indexed=True)
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path != "/v1/{anything}/at-root":
            route.path_regex = None  # type: ignore[assignment]  # an error if tried
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        # Every route before it in the router's order starts otherwise (/v1/things...).
        response = await http.get(root_path + "/v1/x/at-root")
        assert response.status_code == 200
        assert response.text == '"root x"'
        with pytest.raises(AttributeError):
            await http.get(root_path + "/v1/things/7")  # /v1/things is tried, and fails
