"""Queries on uploads; every lookup is scoped to the caller's organization."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import Organization
from ticketcreator.uploads.models import Upload

_LOCK_NAMESPACE = 0x7475  # "tu": advisory locks of resumable uploads


async def organization_settings(
    session: AsyncSession, organization_id: uuid.UUID
) -> dict[str, Any]:
    settings = await session.scalar(
        select(Organization.settings).where(Organization.id == organization_id)
    )
    return settings or {}


async def get(
    session: AsyncSession, organization_id: uuid.UUID, upload_id: uuid.UUID, *, fresh: bool = False
) -> Upload | None:
    query = select(Upload).where(Upload.id == upload_id, Upload.organization_id == organization_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


def add(session: AsyncSession, upload: Upload) -> None:
    session.add(upload)


async def lock(session: AsyncSession, upload_id: uuid.UUID, *, wait_s: float) -> bool:
    """Take the upload's transaction-scoped advisory lock, waiting up to ``wait_s``.

    Released by the commit or rollback of the request, so a crashed request never leaves
    an upload locked.
    """
    key = int.from_bytes(upload_id.bytes[:4], "big", signed=True)
    deadline = time.monotonic() + wait_s
    while True:
        taken = await session.scalar(select(func.pg_try_advisory_xact_lock(_LOCK_NAMESPACE, key)))
        if taken:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def expired(session: AsyncSession, now: datetime, limit: int) -> list[Upload]:
    query = (
        select(Upload)
        .where(Upload.expires_at < now)
        .order_by(Upload.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def delete_rows(session: AsyncSession, upload_ids: list[uuid.UUID]) -> None:
    await session.execute(delete(Upload).where(Upload.id.in_(upload_ids)))
