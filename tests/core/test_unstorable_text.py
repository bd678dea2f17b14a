"""Text PostgreSQL cannot store (NUL, unpaired surrogates) gets a 422 naming the field.

The fields are enumerated from the app's own OpenAPI document, so a new route or a new text
field is covered without changing this test.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Role

pytestmark = pytest.mark.usefixtures("database")

BAD_TEXTS = {"nul": "before\x00after", "surrogate": "lone \ud800 half"}
Location = tuple[str | int, ...]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def text_locations(
    spec: dict[str, Any], schema: dict[str, Any], location: Location = (), depth: int = 0
) -> Iterator[Location]:
    """Every place a string can go in a value of ``schema``."""
    schema = _resolve(spec, schema)
    if depth > 8:
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for variant in schema.get(key, []):
            yield from text_locations(spec, variant, location, depth + 1)
    kind = schema.get("type")
    if kind == "string" and schema.get("format") != "binary":
        yield location
    if kind == "array" or "items" in schema:
        yield from text_locations(spec, schema.get("items", {}), (*location, 0), depth + 1)
    for name, field in schema.get("properties", {}).items():
        yield from text_locations(spec, field, (*location, name), depth + 1)
    extra = schema.get("additionalProperties")
    if extra is True or (kind == "object" and not schema.get("properties") and extra is None):
        yield (*location, "key")
    elif isinstance(extra, dict):
        yield from text_locations(spec, extra, (*location, "key"), depth + 1)


def _body_with(location: Location, value: str) -> Any:
    if not location:
        return value
    head, rest = location[0], location[1:]
    inner = _body_with(rest, value)
    return [inner] if isinstance(head, int) else {head: inner}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def json_body_fields(spec: dict[str, Any]) -> list[tuple[str, str, Location]]:
    found: dict[tuple[str, str, Location], None] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                for location in text_locations(spec, schema):
                    found[(method.upper(), path, location)] = None
    return list(found)


def query_parameters(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, parameter["name"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def _errors(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["location"] for error in response.json()["errors"]]


async def test_every_text_field_of_every_json_body_refuses_unstorable_text(
    client: httpx.AsyncClient, session: AsyncSession, app: Any
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    spec = app.openapi()
    fields = json_body_fields(spec)
    routes = {(method, path) for method, path, _ in fields}
    assert len(routes) >= 20, routes  # the enumeration found the app's JSON bodies
    assert ("POST", "/v1/custom-fields", ("options", 0)) in fields
    assert ("POST", "/v1/tickets/bulk", ("changes", "add_tags", 0)) in fields
    for kind, bad in BAD_TEXTS.items():
        for method, path, location in fields:
            content = json.dumps(_body_with(location, bad)).encode()  # \u escapes, as a client
            response = await client.request(
                method,
                _concrete(path),
                content=content,
                headers={**owner.headers, "content-type": "application/json"},
            )
            expected = ".".join(str(part) for part in ("body", *location))
            assert expected in _errors(response), (kind, method, path, response.text)


async def test_every_query_parameter_refuses_unstorable_text(
    client: httpx.AsyncClient, session: AsyncSession, app: Any
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    parameters = query_parameters(app.openapi())
    assert ("GET", "/v1/tickets", "q") in parameters
    for method, path, name in parameters:
        response = await client.request(
            method, _concrete(path), params={name: "a\x00b"}, headers=owner.headers
        )
        assert f"query.{name}" in _errors(response), (method, path, response.text)


async def test_unstorable_keys_of_free_form_objects_and_path_text_are_named(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    body = json.dumps({"title": "Fine", "custom_fields": {"bad\x00key": "value"}})
    response = await client.post(
        "/v1/tickets",
        content=body,
        headers={**owner.headers, "content-type": "application/json", "Idempotency-Key": "k1"},
    )
    assert "body.custom_fields.bad\\x00key" in _errors(response)
    assert "path.ticket_ref" in _errors(
        await client.get("/v1/tickets/T-%00", headers=owner.headers)
    )
    broken = await client.post(
        "/v1/tickets",
        content=b'{"title": "cut \\u0000 off',
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert _errors(broken)
    assert broken.json()["errors"][0]["type"] == "json_invalid"


async def test_valid_unicode_is_stored_unchanged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    title = "Emoji \U0001f600 and umlauts äöü, tab\tand newline\n"
    created = await client.post(
        "/v1/tickets",
        content=json.dumps({"title": title}),  # the emoji travels as a surrogate pair escape
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["title"] == title.strip() or created.json()["title"] == title
