"""A header read by ``HeaderValue`` gives what FastAPI's optional ``str`` header parameter
gives, and is documented as FastAPI documents that parameter."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Path
from fastapi.openapi.utils import get_openapi

from ticketcreator.core.deps import HeaderValue

DESCRIPTION = "The `ETag` you read."
IF_MATCH = HeaderValue("If-Match", DESCRIPTION)


def _apps() -> tuple[FastAPI, FastAPI]:
    fastapi, ours = FastAPI(), FastAPI()

    @fastapi.get("/{ref}")
    async def by_fastapi(
        ref: Annotated[str, Path()],
        if_match: Annotated[str | None, Header(alias="If-Match", description=DESCRIPTION)] = None,
    ) -> dict[str, str | None]:
        return {"ref": ref, "if_match": if_match}

    @ours.get("/{ref}", openapi_extra=IF_MATCH.openapi())
    async def by_header_value(
        ref: Annotated[str, Path()], if_match: Annotated[str | None, Depends(IF_MATCH)]
    ) -> dict[str, str | None]:
        return {"ref": ref, "if_match": if_match}

    return fastapi, ours


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("If-Match", '"3"')],
        [("if-match", 'W/"3", "4"')],
        [("IF-MATCH", "")],
        [("If-Match", '"1"'), ("If-Match", '"2"')],
        [("If-None-Match", '"3"'), ("if_match", '"3"')],
    ],
)
async def test_values_are_fastapis(headers: list[tuple[str, str]]) -> None:
    answers = []
    for app in _apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            response = await client.get("/T-1", headers=httpx.Headers(headers))
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[1][0] == 200


def test_the_header_is_documented_as_fastapi_documents_it() -> None:
    documents = [get_openapi(title="", version="", routes=app.routes) for app in _apps()]
    fastapi, ours = (document["paths"]["/{ref}"]["get"] for document in documents)
    assert ours["parameters"] == fastapi["parameters"]
    assert [p["name"] for p in ours["parameters"]] == ["ref", "If-Match"]
    assert ours["parameters"][1]["description"] == DESCRIPTION
