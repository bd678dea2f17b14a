from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from typer.testing import CliRunner

from ticketcreator.cli import app as cli
from ticketcreator.cli import openapi_text
from ticketcreator.core.deps import public

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"


def test_committed_openapi_matches_the_app(app: FastAPI) -> None:
    assert COMMITTED.read_text() == openapi_text(app.openapi()), (
        "docs/openapi.json is out of date: run `make docs` (ticketcreator export-openapi + redocly)"
    )


def test_check_fails_when_a_route_is_added_without_regenerating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ticketcreator.main as main

    original = main.api_router

    def with_new_route() -> APIRouter:
        router = original()

        @router.get("/brand-new", dependencies=[Depends(public)])
        async def brand_new() -> dict[str, str]:
            return {}

        return router

    runner = CliRunner()
    current = runner.invoke(cli, ["export-openapi", "--check", "--output", str(COMMITTED)])
    assert current.exit_code == 0, current.output
    monkeypatch.setattr(main, "api_router", with_new_route)
    drifted = runner.invoke(cli, ["export-openapi", "--check", "--output", str(COMMITTED)])
    assert drifted.exit_code == 2
    assert "out of date" in drifted.output


def test_export_writes_the_document(tmp_path: Path, app: FastAPI) -> None:
    target = tmp_path / "docs" / "openapi.json"
    result = CliRunner().invoke(cli, ["export-openapi", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == openapi_text(app.openapi())


def test_errors_are_documented_as_problem_details(app: FastAPI) -> None:
    document = app.openapi()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response.get("content", {})) == ["application/problem+json"], (
                        f"{method.upper()} {path} {status}"
                    )


async def test_the_service_serves_its_docs(client: httpx.AsyncClient, app: FastAPI) -> None:
    document = await client.get("/openapi.json")
    assert document.status_code == 200
    assert document.json() == app.openapi()
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
