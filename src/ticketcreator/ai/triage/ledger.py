"""The AI spend ledger in PostgreSQL, per organization.

Every worker sees the same totals, so the daily, monthly and per-ticket cost limits hold
across processes. The limits of ``ai_strategy.cost_limits`` apply to each organization's own
spend. A reservation takes the organization's transaction-scoped advisory lock, sums the
spend, and inserts the estimate in one transaction, so concurrent reservations of the same
organization are checked one after the other, each seeing the rows the previous ones
committed (READ COMMITTED: every statement reads the latest commits). Other organizations
are not held up.

Entries are written in transactions of their own: money spent on a call stays spent even when
the triage that made it fails afterwards, and an estimate whose worker died before settling it
stays recorded (the totals may count too much, never too little).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ticketcreator.ai.providers import SpendEntry, over_budget
from ticketcreator.ai.triage import spend_repository as repo
from ticketcreator.ai.triage.models import AISpend
from ticketcreator.core.ai_config import CostLimits
from ticketcreator.core.db import session_factory


class DatabaseSpendLedger:
    """A :class:`~ticketcreator.ai.providers.SpendLedger` over the ``ai_spend`` table."""

    def __init__(self, organization_id: uuid.UUID) -> None:
        self.organization_id = organization_id

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        async with session_factory()() as session:
            return await repo.spent(session, self.organization_id, since, ticket_id)

    async def reserve(self, limits: CostLimits, entry: SpendEntry) -> str | None:
        if entry.cost <= 0:
            return None
        async with session_factory()() as session:
            # Each statement must read what the lock's previous holder committed: a snapshot
            # taken before the lock was granted (REPEATABLE READ) would miss it.
            await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
            await repo.lock_spend(session, self.organization_id)

            async def spent(since: datetime, ticket_id: uuid.UUID | None) -> float:
                return await repo.spent(session, self.organization_id, since, ticket_id)

            reason = await over_budget(spent, limits, entry)
            if reason is not None:
                return reason  # closing the session rolls back and releases the lock
            session.add(
                AISpend(
                    id=entry.id,
                    organization_id=self.organization_id,
                    ticket_id=entry.ticket_id,
                    provider=entry.provider,
                    model=entry.model,
                    cost=entry.cost,
                    at=entry.at,
                )
            )
            await session.commit()
        return None

    async def settle(self, entry: SpendEntry, cost: float) -> None:
        async with session_factory()() as session:
            await repo.settle_spend(session, self.organization_id, entry.id, entry.model, cost)
            await session.commit()
