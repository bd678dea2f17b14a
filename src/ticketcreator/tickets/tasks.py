"""Worker side of tickets: forgetting expired idempotency keys (beat, ``default`` queue)."""

from __future__ import annotations

from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.tickets import idempotency


async def _purge() -> int:
    async with session_factory()() as session:
        removed = await idempotency.purge_expired(session)
        await commit(session)
    return removed


@celery_app.task(name="tickets.purge_idempotency_keys")  # type: ignore[untyped-decorator]
def purge_idempotency_keys() -> int:
    """Delete idempotency keys older than ``tickets.idempotency_ttl_h``."""
    return run_async(_purge())
