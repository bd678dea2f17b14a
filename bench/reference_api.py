"""The reference for bench/api.py: a bare FastAPI app doing the least SQL for the same results.

No authentication, events, outbox, audit or rate limits: one asyncpg pool and, per request, the
minimum statements (create: counter upsert + insert; get: one SELECT; list and search: one
SELECT of a page; PATCH: one UPDATE). It answers the same paths and shapes as the API, so one
load generator drives both. Started by bench/api.py with
``uvicorn reference_api:app --app-dir bench``; ``REF_DATABASE_URL`` and ``REF_ORGANIZATION_ID``
come from the environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, HTTPException, Request

ORGANIZATION = uuid.UUID(os.environ.get("REF_ORGANIZATION_ID", str(uuid.UUID(int=0))))
COLUMNS = (
    "id, number, title, description, status, priority, type, source, reporter_id, assignee_id,"
    " custom_fields, version, created_at, updated_at"
)
CREATE = f"""
WITH counter AS (
  INSERT INTO ticket_counter (organization_id, last_number) VALUES ($1, 1)
  ON CONFLICT (organization_id) DO UPDATE SET last_number = ticket_counter.last_number + 1
  RETURNING last_number
)
INSERT INTO ticket (id, organization_id, number, title, description, status, priority, type,
                    source, custom_fields, version, created_at, updated_at)
SELECT $2, $1, last_number, $3, $4, 'open', 'normal', 'bug', 'api', '{{}}', 1, now(), now()
FROM counter
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM ticket WHERE organization_id = $1 AND number = $2"
LIST = f"""
SELECT {COLUMNS} FROM ticket
WHERE organization_id = $1 AND deleted_at IS NULL AND status = $2
ORDER BY created_at DESC, id DESC LIMIT 25
"""
SEARCH = f"""
SELECT {COLUMNS} FROM ticket
WHERE organization_id = $1 AND deleted_at IS NULL
  AND search_vector @@ websearch_to_tsquery('english', $2)
ORDER BY created_at DESC, id DESC LIMIT 25
"""
PATCH = f"""
UPDATE ticket SET priority = $3, version = version + 1, updated_at = now()
WHERE organization_id = $1 AND number = $2
RETURNING {COLUMNS}
"""

pool: Any = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(os.environ["REF_DATABASE_URL"], min_size=5, max_size=10)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


def _row(record: Any) -> dict[str, Any]:
    row = dict(record)
    row["key"] = f"T-{row['number']}"
    return row


def _number(ref: str) -> int:
    return int(ref.removeprefix("T-"))


@app.post("/v1/tickets", status_code=201)
async def create(request: Request) -> dict[str, Any]:
    body = await request.json()
    record = await pool.fetchrow(
        CREATE, ORGANIZATION, uuid.uuid4(), body["title"], body.get("description", "")
    )
    return _row(record)


@app.get("/v1/tickets/{ref}")
async def get(ref: str) -> dict[str, Any]:
    record = await pool.fetchrow(GET, ORGANIZATION, _number(ref))
    if record is None:
        raise HTTPException(404)
    return _row(record)


@app.get("/v1/tickets")
async def listing(status: str | None = None, q: str | None = None) -> dict[str, Any]:
    if q:
        records = await pool.fetch(SEARCH, ORGANIZATION, q)
    else:
        records = await pool.fetch(LIST, ORGANIZATION, status or "open")
    return {"items": [_row(record) for record in records], "next_cursor": None}


@app.patch("/v1/tickets/{ref}")
async def patch(ref: str, request: Request) -> dict[str, Any]:
    body = await request.json()
    record = await pool.fetchrow(PATCH, ORGANIZATION, _number(ref), body["priority"])
    if record is None:
        raise HTTPException(404)
    return _row(record)
