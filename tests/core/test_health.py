from __future__ import annotations

import httpx

from tests.support.services import RedisServer


async def test_health_answers_while_the_process_lives(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_dependency_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgresql": "ok", "redis": "ok", "broker": "ok"},
    }


async def test_ready_names_redis_when_it_is_down(
    client: httpx.AsyncClient, redis_down: RedisServer
) -> None:
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503
    assert problem["type"].endswith("/service-unavailable")
    assert "redis" in problem["failing"]
    assert "redis" in problem["detail"]
    assert problem["checks"]["postgresql"] == "ok"
    assert response.headers["retry-after"] == "5"


async def test_unknown_path_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://docs.ticketcreator.dev/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": None,
        "instance": "/v1/no-such-thing",
    }


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/method-not-allowed")
    assert "GET" in response.headers["allow"]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    mine = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_cors_allows_the_extension_origin_only(client: httpx.AsyncClient) -> None:
    extension = "chrome-extension://" + "a" * 32
    allowed = await client.options(
        "/health",
        headers={"Origin": extension, "Access-Control-Request-Method": "GET"},
    )
    assert allowed.headers["access-control-allow-origin"] == extension
    refused = await client.options(
        "/health",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in refused.headers
