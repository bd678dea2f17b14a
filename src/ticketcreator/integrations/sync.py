"""The sync engine: ticket state out to vendors, vendor changes back to tickets.

Outbound sync is level-triggered: events only mark a ticket as having changes
(:class:`TicketSync`) and queue a task; the task sends the ticket's *current* state, compared
field by field with what the vendor is known to hold (``ExternalLink.remote_state``). So a
repeated, late or lost event is harmless, and a change that came from the vendor (recorded
in ``remote_state`` when it is applied) is never sent back to it.

The vendor calls of a push, and how they avoid a second issue or comment, are in
:mod:`ticketcreator.integrations.outbound`. One worker at a time syncs a given ticket with a
given installation (a PostgreSQL advisory lock held by a separate connection, released if the
worker dies). A sweeper re-queues syncs whose task was lost, whose rate-limit wait is over, or
whose worker was killed.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.crypto import DecryptionError
from ticketcreator.core.db import after_commit, session_factory, utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import (
    InboundEvent,
    Provider,
    ProviderConfig,
    WebhookSource,
)
from ticketcreator.integrations.connection import (
    integration_principal,
    mappings_of,
    mark_failed,
    mark_healthy,
    open_connection,
    record,
    typed_config,
)
from ticketcreator.integrations.http import RateLimited, VendorError
from ticketcreator.integrations.models import CommentLink, Installation, TicketSync
from ticketcreator.integrations.outbound import send_ticket
from ticketcreator.integrations.registry import get_provider
from ticketcreator.tickets import comments as ticket_comments
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.errors import InvalidTransition
from ticketcreator.tickets.models import ExternalLink, Status, Ticket
from ticketcreator.tickets.schemas import CommentCreate, TicketUpdate
from ticketcreator.tickets.workflow import check_transition

log = logging.getLogger(__name__)

PUSH_TASK = "integrations.push"
BUSY_RETRY_S = 1.0


# Requesting syncs


def _send(installation_id: uuid.UUID, ticket_id: uuid.UUID, countdown: float | None = None) -> None:
    from ticketcreator.core.tasks import celery_app

    celery_app.send_task(
        PUSH_TASK,
        args=[str(installation_id), str(ticket_id)],
        queue="integrations",
        countdown=countdown,
        retry=False,
    )


def send_safely(installation_id: uuid.UUID, ticket_id: uuid.UUID, countdown: float | None) -> None:
    """Queue the push task; if the broker is down the sweeper queues it later."""
    try:
        _send(installation_id, ticket_id, countdown)
    except Exception as exc:  # the broker refused: the TicketSync row stays due
        log.warning("could not queue a sync; the sweeper will", extra={"error": str(exc)})


async def request_sync(
    session: AsyncSession,
    installation: Installation,
    ticket_id: uuid.UUID,
    *,
    reset_attempts: bool = False,
) -> None:
    """Mark the ticket as having changes for ``installation``; the task is queued on commit."""
    lease = timedelta(seconds=get_settings().integrations.sync_lease_s)
    await repo.request_sync(
        session,
        installation.organization_id,
        installation.id,
        ticket_id,
        utcnow() + lease,
        reset_attempts=reset_attempts,
    )
    installation_id = installation.id

    async def queue() -> None:
        send_safely(installation_id, ticket_id, None)

    after_commit(session, queue)


async def sweep(limit: int = 500) -> int:
    """Queue again every sync whose lease ran out, and every change whose event was lost
    (a killed worker, a dropped message); returns how many syncs were queued."""
    cfg = get_settings().integrations
    lease = timedelta(seconds=cfg.sync_lease_s)
    now = utcnow()
    async with session_factory()() as session:
        lost = await repo.unsynced(
            session,
            now - timedelta(seconds=cfg.reconcile_grace_s),
            now - timedelta(hours=cfg.reconcile_window_h),
            limit,
        )
        for installation_id, ticket_id in lost:
            installation = await repo.installation_by_id(session, installation_id)
            assert installation is not None
            await repo.request_sync(
                session,
                installation.organization_id,
                installation_id,
                ticket_id,
                now,
                reset_attempts=False,
            )
        due = await repo.due_syncs(session, now, limit)
        pairs = [(job.installation_id, job.ticket_id) for job in due]
        for job in due:
            job.next_attempt_at = now + lease
        await session.commit()
    for installation_id, ticket_id in pairs:
        send_safely(installation_id, ticket_id, None)
    return len(pairs)


# Outbound


@dataclass(frozen=True)
class PushResult:
    outcome: Literal["done", "clean", "busy", "wait", "retry", "failed"]
    delay: float = 0.0
    error: str | None = None


def _lock_key(installation_id: uuid.UUID, ticket_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(installation_id.bytes + ticket_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def push(installation_id: uuid.UUID, ticket_id: uuid.UUID) -> PushResult:
    """Send the ticket's pending changes to one installation (the task's whole job)."""
    async with session_factory()() as lock_session:
        locked = await lock_session.scalar(
            select(func.pg_try_advisory_xact_lock(_lock_key(installation_id, ticket_id)))
        )
        if not locked:
            return PushResult("busy", BUSY_RETRY_S)
        async with session_factory()() as session:
            result = await _push(session, installation_id, ticket_id)
        await lock_session.rollback()
    return result


def backoff(attempts: int) -> float:
    cfg = get_settings().integrations
    return float(min(cfg.retry_backoff_max_s, 2 ** min(attempts, 16)))


async def _push(
    session: AsyncSession, installation_id: uuid.UUID, ticket_id: uuid.UUID
) -> PushResult:
    job = await repo.ticket_sync(session, installation_id, ticket_id)
    if job is None or job.requested_at is None:
        return PushResult("clean")
    installation = await repo.installation_by_id(session, installation_id)
    principal = integration_principal(job.organization_id)
    ticket: Ticket | None = None
    if installation is not None and installation.enabled:
        try:
            ticket = await tickets.load(session, principal, str(ticket_id))
        except NotFound:
            ticket = None
    if installation is None or not installation.enabled or ticket is None:
        job.requested_at = job.next_attempt_at = None
        await session.commit()
        return PushResult("clean")
    requested_at = job.requested_at
    cfg = get_settings().integrations
    job.next_attempt_at = utcnow() + timedelta(seconds=cfg.sync_lease_s)
    await session.commit()
    connection = open_connection(session, installation)
    provider = get_provider(installation.provider)
    try:
        await send_ticket(session, provider, connection, installation, job, ticket)
    except RateLimited as exc:
        await _reload(session, job, installation)
        job.next_attempt_at = utcnow() + timedelta(seconds=exc.retry_after + cfg.sync_lease_s)
        await repo.count_health(session, installation.id, "rate_limit_waits")
        record(session, installation, "push", "rate_limited", ticket_id=ticket_id, detail=str(exc))
        await session.commit()
        return PushResult("wait", max(exc.retry_after, 0.5))
    except (VendorError, DecryptionError) as exc:
        await _reload(session, job, installation)
        retriable = isinstance(exc, VendorError) and exc.retriable
        job.attempts += 1
        job.last_error = str(exc)[:2000]
        given_up = not retriable or job.attempts >= cfg.max_attempts
        delay = backoff(job.attempts)
        # a sync that gave up waits for "sync now" (or the next change of the ticket)
        job.next_attempt_at = (
            None if given_up else utcnow() + timedelta(seconds=delay + cfg.sync_lease_s)
        )
        await mark_failed(session, installation, str(exc))
        outcome = "failed" if given_up else "retrying"
        record(session, installation, "push", outcome, ticket_id=ticket_id, detail=str(exc))
        await session.commit()
        return PushResult("failed" if given_up else "retry", delay, str(exc))
    finally:
        await connection.http.aclose()
    await session.refresh(job)
    lag_ms = int((utcnow() - requested_at).total_seconds() * 1000)
    if job.requested_at == requested_at:
        job.requested_at = job.next_attempt_at = None
        job.attempts = 0
        job.last_error = None
    mark_healthy(installation, lag_ms)
    await session.commit()
    if job.requested_at is not None:  # changed again while we were sending
        return PushResult("busy", 0.0)
    return PushResult("done")


async def _reload(session: AsyncSession, job: TicketSync, installation: Installation) -> None:
    """Drop what the failed step left unsaved and read the rows again."""
    await session.rollback()
    await session.refresh(job)
    await session.refresh(installation)


# Inbound


class InboundDeferred(Exception):
    """The webhook cannot be applied yet (our own write of it is still in flight)."""


async def process_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> str:
    """Apply a stored webhook to its ticket; returns what was done (also stored)."""
    delivery = await repo.delivery(session, delivery_id)
    if delivery is None or delivery.processed_at is not None:
        return "already processed"
    installation = await repo.installation_by_id(session, delivery.installation_id)
    if installation is None or not installation.enabled:
        outcome = "installation disabled"
    else:
        provider = get_provider(installation.provider)
        assert isinstance(provider, WebhookSource)
        event = provider.parse_webhook(delivery.event, delivery.payload)
        outcome = await _apply_inbound(session, provider, installation, event)
        record(
            session,
            installation,
            f"webhook:{delivery.event}"[:40],
            "ok" if outcome.startswith(("status", "comment")) else "skipped",
            direction="inbound",
            external_id=event.external_issue_id,
            detail=outcome,
        )
    delivery.processed_at = utcnow()
    delivery.outcome = outcome[:200]
    return outcome


async def _apply_inbound(
    session: AsyncSession, provider: Provider, installation: Installation, event: InboundEvent
) -> str:
    if event.kind == "ignored" or event.external_issue_id is None:
        return "ignored"
    if event.from_us:
        return "ignored: our own change"
    link = await repo.link_by_external_id(session, installation, event.external_issue_id)
    if link is None:
        return "ignored: no linked ticket"
    principal = integration_principal(installation.organization_id)
    ticket = await tickets.load(session, principal, str(link.ticket_id), lock=True)
    config = typed_config(provider, installation)
    if event.kind == "status" and event.vendor_status:
        return await _inbound_status(session, provider, config, link, ticket, event.vendor_status)
    if event.kind == "comment" and event.comment_id and config.sync_comments:
        return await _inbound_comment(session, installation, ticket, event)
    return "ignored"


async def _inbound_status(
    session: AsyncSession,
    provider: Provider,
    config: ProviderConfig,
    link: ExternalLink,
    ticket: Ticket,
    vendor_status: str,
) -> str:
    in_sync = link.last_synced_version == ticket.version
    link.remote_state = {**link.remote_state, "status": vendor_status}
    target = mappings_of(provider, config).ticket_status(ticket.status, vendor_status)
    if target is None or target == ticket.status:
        return f"status: no change ({vendor_status})"
    principal = integration_principal(ticket.organization_id)
    path = [target]
    try:
        check_transition(ticket.status, target)
    except InvalidTransition:
        path = [Status.OPEN, target] if target is not Status.OPEN else path
    for status in path:
        await tickets.update_ticket(session, principal, ticket, TicketUpdate(status=status), None)
    if in_sync:  # nothing of ours was pending: the vendor now holds this version
        link.last_synced_version = ticket.version
    return f"status: {ticket.status.value} ({vendor_status})"


async def _inbound_comment(
    session: AsyncSession, installation: Installation, ticket: Ticket, event: InboundEvent
) -> str:
    assert event.comment_id is not None
    if await repo.comment_link_by_external_id(session, installation.id, event.comment_id):
        return "ignored: comment known"
    if await repo.comments_in_flight(session, installation.id, ticket.id):
        raise InboundDeferred("a comment of ours to this issue is being sent")
    principal = integration_principal(ticket.organization_id)
    author = event.author or "someone"
    title = get_provider(installation.provider).title
    body = f"{author} on {title}:\n\n{event.comment_body or ''}".strip()
    comment = await ticket_comments.add_comment(
        session, principal, ticket, CommentCreate(body=body[:20_000])
    )
    session.add(
        CommentLink(
            id=uuid.uuid4(),
            organization_id=ticket.organization_id,
            installation_id=installation.id,
            comment_id=comment.id,
            external_id=event.comment_id,
            origin="vendor",
            created_at=utcnow(),
        )
    )
    await session.flush()
    return f"comment: {comment.id}"
