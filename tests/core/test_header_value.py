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


KEY = HeaderValue("Idempotency-Key", "Makes retries safe.", min_length=1, max_length=8)


def _constrained_apps() -> tuple[FastAPI, FastAPI]:
    fastapi, ours = FastAPI(), FastAPI()

    @fastapi.post("/")
    async def by_fastapi(
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Makes retries safe.",
                min_length=1,
                max_length=8,
            ),
        ] = None,
    ) -> dict[str, str | None]:
        return {"key": key}

    @ours.post("/", openapi_extra=KEY.openapi())
    async def by_header_value(key: Annotated[str | None, Depends(KEY)]) -> dict[str, str | None]:
        return {"key": key}

    return fastapi, ours


@pytest.mark.parametrize("value", [None, "", "k", "12345678", "123456789", "x" * 300])
async def test_constraints_refuse_what_fastapi_refuses(value: str | None) -> None:
    answers = []
    headers = {} if value is None else {"Idempotency-Key": value}
    for app in _constrained_apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            response = await client.post("/", headers=headers)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[1][0] == (422 if value is not None and not 1 <= len(value) <= 8 else 200)


def test_constraints_are_documented_as_fastapi_documents_them() -> None:
    documents = [get_openapi(title="", version="", routes=a.routes) for a in _constrained_apps()]
    fastapi, ours = (document["paths"]["/"]["post"] for document in documents)
    assert ours["parameters"] == fastapi["parameters"]
    assert ours["parameters"][0]["schema"]["anyOf"][0] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 8,
    }
