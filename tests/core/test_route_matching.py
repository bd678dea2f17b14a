"""Route matching: a unit-of-work route passes over a request whose path does not start as its
own without its regular expression, and answers every request as FastAPI's routes do."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

from ticketcreator.core.db import UnitOfWorkRoute


def _app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(prefix="/v1", route_class=route_class)

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


async def _answers(
    route_class: type[APIRoute], root_path: str
) -> list[tuple[int, str | None, str | None, str]]:
    transport = httpx.ASGITransport(app=_app(route_class), root_path=root_path)
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
async def test_a_unit_of_work_route_answers_as_fastapis_routes(root_path: str) -> None:
    ours = await _answers(UnitOfWorkRoute, root_path)
    assert ours == await _answers(APIRoute, root_path)
    by_request = dict(zip(REQUESTS, ours, strict=True))
    assert by_request["GET", "/v1/things/7"][0] == 200
    assert by_request["GET", "/v1/things/7"][3] == '"get 7"'
    assert by_request["DELETE", "/v1/things/7"][:2] == (405, "GET")
    assert by_request["GET", "/v1/thing"][0] == 404
    assert by_request["GET", "/v1/things/"][:3] == (307, None, f"http://test{root_path}/v1/things")
    assert by_request["DELETE", "/v1/slashed"][0] == 307


def test_the_regex_is_skipped_when_the_path_starts_otherwise() -> None:
    route = UnitOfWorkRoute("/v1/tickets/{ticket_ref}/comments", lambda: None)
    assert route.literal_prefix == "/v1/tickets/"

    def scope(path: str, root_path: str = "") -> dict[str, object]:
        return {"type": "http", "method": "GET", "path": path, "root_path": root_path}

    assert route.matches(scope("/v1/tickets/T-1/comments"))[0] is Match.FULL
    assert route.matches(scope("/api/v1/tickets/T-1/comments", "/api"))[0] is Match.FULL
    assert route.matches(scope("/v1/members"))[0] is Match.NONE
    assert route.matches(scope("/v1/tickets/T-1"))[0] is Match.NONE
    route.path_regex = None  # type: ignore[assignment]  # not reached for another prefix
    assert route.matches(scope("/v1/members")) == (Match.NONE, {})
    assert route.matches(scope("/api/v1/members", "/api")) == (Match.NONE, {})
