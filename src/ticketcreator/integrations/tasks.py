"""Worker side of integrations (``integrations`` queue): outbound pushes, webhooks, the sweeper.

Imported by the worker before it forks, so a sync never waits for imports. Outbox
subscribers only mark tickets as having changes; ``integrations.push`` sends them.
A push the vendor rate-limits is queued again with the vendor's countdown (it does not count
as a failure); a passing vendor failure is retried with backoff (:class:`RetriableError`);
the sweeper queues again whatever a killed worker or a lost message left behind.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.tasks import RetriableError, celery_app, run_async
from ticketcreator.integrations import service, sync


@subscriber(Topic.TICKET_CREATED, queue="integrations")
async def sync_new_ticket(session: AsyncSession, message: dict[str, Any]) -> None:
    await service.on_ticket_created(session, message)


@subscriber(Topic.TICKET_UPDATED, queue="integrations")
async def sync_updated_ticket(session: AsyncSession, message: dict[str, Any]) -> None:
    await service.on_ticket_changed(session, message)


@subscriber(Topic.TICKET_COMMENTED, queue="integrations")
async def sync_commented_ticket(session: AsyncSession, message: dict[str, Any]) -> None:
    await service.on_ticket_changed(session, message)


@subscriber(Topic.INTEGRATIONS_WEBHOOK_RECEIVED, queue="integrations")
async def apply_webhook(session: AsyncSession, message: dict[str, Any]) -> None:
    """A verified vendor webhook changes the linked ticket (status, comments)."""
    try:
        await sync.process_delivery(session, uuid.UUID(message["payload"]["delivery_id"]))
    except sync.InboundDeferred as exc:
        raise RetriableError(str(exc), defer_seconds=1.0) from exc


@celery_app.task(  # type: ignore[untyped-decorator]
    name="integrations.push",
    queue="integrations",
    bind=True,
    max_retries=None,  # rate-limit waits are new messages; vendor failures: max_attempts below
    max_runs=get_settings().integrations.max_attempts + 1,
)
def push(task: Task, installation_id: str, ticket_id: str) -> str:
    """Send one ticket's pending changes to one installation."""
    result = run_async(sync.push(uuid.UUID(installation_id), uuid.UUID(ticket_id)))
    if result.outcome in ("busy", "wait"):
        # queued again, not failed: the rate-limit wait or the other worker's sync is over soon
        sync.send_safely(uuid.UUID(installation_id), uuid.UUID(ticket_id), result.delay or None)
    elif result.outcome == "retry":
        raise task.retry(
            exc=RetriableError(result.error or "vendor unavailable", result.delay),
            countdown=result.delay,
            max_retries=get_settings().integrations.max_attempts,
        )
    return result.outcome


@celery_app.task(name="integrations.sweep", queue="integrations")  # type: ignore[untyped-decorator]
def sweep() -> int:
    """Periodic: queue again the syncs whose task was lost or whose wait is over."""
    return run_async(sync.sweep())
