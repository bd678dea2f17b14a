"""The AI spend ledger in PostgreSQL, per organization.

Every worker sees the same totals, so the daily, monthly and per-ticket cost limits hold
across processes. The limits of ``ai_strategy.cost_limits`` apply to each organization's own
spend. Entries are written in a transaction of their own: money spent on a call stays spent
even when the triage that made it fails afterwards.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ticketcreator.ai.providers import SpendEntry
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage.models import AISpend
from ticketcreator.core.db import session_factory


class DatabaseSpendLedger:
    """A :class:`~ticketcreator.ai.providers.SpendLedger` over the ``ai_spend`` table."""

    def __init__(self, organization_id: uuid.UUID) -> None:
        self.organization_id = organization_id

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        async with session_factory()() as session:
            return await repo.spent(session, self.organization_id, since, ticket_id)

    async def record(self, entry: SpendEntry) -> None:
        async with session_factory()() as session:
            session.add(
                AISpend(
                    id=uuid.uuid4(),
                    organization_id=self.organization_id,
                    ticket_id=entry.ticket_id,
                    provider=entry.provider,
                    model=entry.model,
                    cost=entry.cost,
                    at=entry.at,
                )
            )
            await session.commit()
