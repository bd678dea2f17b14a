"""A query read by ``QueryModel`` gives what FastAPI's query parameter model gives: the same
values, the same errors, the same documented parameters."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ticketcreator.core.deps import QueryModel


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(default=[])
    names: set[str] = Field(default=set())
    limit: int | None = Field(default=None, ge=1)
    deleted: bool = False
    q: str | None = Field(default=None, min_length=1)


QUERY = QueryModel(Filters)


def _apps() -> tuple[FastAPI, FastAPI]:
    async def errors(_: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = [(e["loc"], e["type"]) for e in exc.errors()]
        return JSONResponse(sorted(found), status_code=422)

    fastapi, ours = FastAPI(), FastAPI()
    for app in (fastapi, ours):
        app.add_exception_handler(RequestValidationError, errors)

    @fastapi.get("/")
    async def by_fastapi(query: Annotated[Filters, Query()]) -> dict[str, Any]:
        return query.model_dump(mode="json")

    @ours.get("/", openapi_extra=QUERY.openapi())
    async def by_query_model(query: Annotated[Filters, Depends(QUERY)]) -> dict[str, Any]:
        return query.model_dump(mode="json")

    return fastapi, ours


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ids=1&ids=2&names=a&names=a&limit=3&deleted=true&q=x",
        "limit=1&limit=2",
        "ids=x&limit=0&deleted=maybe&q=&colour=red",
        "names=",
    ],
)
async def test_values_and_errors_are_fastapis(query: str) -> None:
    answers = []
    for app in _apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            response = await client.get(f"/?{query}")
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_parameters_are_documented_as_fastapi_documents_them() -> None:
    documents = [get_openapi(title="", version="", routes=app.routes) for app in _apps()]
    fastapi, ours = (document["paths"]["/"]["get"] for document in documents)
    assert ours["parameters"] == fastapi["parameters"]
    assert "422" not in ours["responses"], "a route documents its own 422"
