"""Worker side of outgoing webhooks (``integrations`` queue)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import after_commit, commit, session_factory
from ticketcreator.core.events import subscriber
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.notifications import webhooks

DELIVER = "webhooks.deliver"
log = logging.getLogger(__name__)


def enqueue(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> None:
    """Attempt these deliveries once the transaction commits (a lost hand-over is picked up
    by the retry sweep, since the deliveries are due)."""
    if not delivery_ids:
        return

    def send_all() -> None:
        for delivery_id in delivery_ids:
            celery_app.send_task(
                DELIVER, args=[str(delivery_id)], queue="integrations", retry=False
            )

    async def send() -> None:
        try:
            await asyncio.to_thread(send_all)
        except Exception as exc:  # the broker is down: the retry sweep sends them later
            log.warning("webhook deliveries not handed over", extra={"error": str(exc)})

    after_commit(session, send)


@subscriber(webhooks.EVENT_TYPES, queue="integrations")
async def record_webhook_deliveries(session: AsyncSession, message: dict[str, Any]) -> None:
    """Every event an endpoint subscribed to becomes a delivery to it."""
    enqueue(session, await webhooks.record(session, message))


async def _deliver(delivery_id: uuid.UUID) -> None:
    async with session_factory()() as session:
        await webhooks.attempt(session, delivery_id)
        await commit(session)


@celery_app.task(name=DELIVER, queue="integrations")  # type: ignore[untyped-decorator]
def deliver(delivery_id: str) -> None:
    """One attempt of one delivery (failures are scheduled for the retry sweep)."""
    run_async(_deliver(uuid.UUID(delivery_id)))


async def _retry_due() -> int:
    async with session_factory()() as session:
        ids = await webhooks.due(session)
        enqueue(session, ids)
        await commit(session)
    return len(ids)


@celery_app.task(name="webhooks.retry_due", queue="integrations")  # type: ignore[untyped-decorator]
def retry_due() -> int:
    """Periodic: hand deliveries whose next attempt is due to the worker."""
    return run_async(_retry_due())
