"""Queries of the AI spend ledger (``ai_spend``), per organization."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.ai.triage.models import AISpend


async def spent(
    session: AsyncSession,
    organization_id: uuid.UUID,
    since: datetime,
    ticket_id: uuid.UUID | None,
) -> float:
    query = select(func.coalesce(func.sum(AISpend.cost), 0.0)).where(
        AISpend.organization_id == organization_id, AISpend.at >= since
    )
    if ticket_id is not None:
        query = query.where(AISpend.ticket_id == ticket_id)
    return float(await session.scalar(query) or 0.0)


# A namespace for the advisory locks of AI spend, so they cannot meet another feature's keys.
_SPEND_LOCK_NAMESPACE = 0x41495350  # "AISP"


async def lock_spend(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Wait for, then hold until the transaction ends, the organization's spend lock.

    Reservations take it before summing and inserting, so they run one at a time per
    organization. The key is the namespace and a stable 32-bit hash of the organization id;
    two organizations whose hashes collide merely wait for each other.
    """
    digest = hashlib.blake2b(organization_id.bytes, digest_size=4).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(_SPEND_LOCK_NAMESPACE, key)))


async def settle_spend(
    session: AsyncSession, organization_id: uuid.UUID, spend_id: uuid.UUID, model: str, cost: float
) -> None:
    """Replace a reservation's estimate by the actual cost; a cost of 0 deletes it."""
    scope = (AISpend.id == spend_id, AISpend.organization_id == organization_id)
    if cost > 0:
        await session.execute(update(AISpend).where(*scope).values(model=model, cost=cost))
    else:
        await session.execute(delete(AISpend).where(*scope))
