"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends
from kombu import Connection
from pydantic import BaseModel
from sqlalchemy import text

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import get_engine
from ticketcreator.core.deps import public
from ticketcreator.core.errors import ServiceUnavailable, documented

router = APIRouter(tags=["health"], dependencies=[Depends(public)])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]


async def _check_database() -> None:
    async with get_engine().connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check_redis() -> None:
    cfg = get_settings().redis
    client = aioredis.Redis.from_url(
        cfg.url, socket_timeout=cfg.socket_timeout_s, socket_connect_timeout=cfg.socket_timeout_s
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


def _check_broker_sync() -> None:
    cfg = get_settings().celery
    with Connection(cfg.broker_url, connect_timeout=cfg.publish_timeout_s) as connection:
        connection.ensure_connection(max_retries=0, timeout=cfg.publish_timeout_s)


async def _check_broker() -> None:
    await asyncio.to_thread(_check_broker_sync)


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health()


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: PostgreSQL, Redis and the Celery broker are reachable",
    responses=documented(ServiceUnavailable),
)
async def ready() -> Readiness:
    checks = {"postgresql": _check_database, "redis": _check_redis, "broker": _check_broker}
    timeout = get_settings().redis.socket_timeout_s + 1
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), timeout) for check in checks.values()),
        return_exceptions=True,
    )
    failing = {
        name: type(result).__name__
        for name, result in zip(checks, results, strict=True)
        if isinstance(result, BaseException)
    }
    if failing:
        raise ServiceUnavailable(
            "Not ready: " + ", ".join(sorted(failing)) + " unreachable",
            failing=sorted(failing),
            checks={name: failing.get(name, "ok") for name in checks},
            headers={"Retry-After": "5"},
        )
    return Readiness(checks=dict.fromkeys(checks, "ok"))
