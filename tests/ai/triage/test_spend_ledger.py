"""The database spend ledger: reservations are atomic per organization, settling corrects them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_organization
from ticketcreator.ai.providers import SpendEntry
from ticketcreator.ai.triage import spend_repository as repo
from ticketcreator.ai.triage.ledger import DatabaseSpendLedger
from ticketcreator.ai.triage.models import AISpend
from ticketcreator.core.ai_config import CostLimits
from ticketcreator.core.db import session_factory

AT = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
DAY = datetime(2025, 3, 15, tzinfo=UTC)
LIMITS = CostLimits(max_cost_per_ticket=10.0, daily_cost_limit=1.0, monthly_cost_limit=10.0)


def estimate(cost: float) -> SpendEntry:
    return SpendEntry(at=AT, provider="openai", model="gpt-4o-mini", cost=cost)


async def _organization(session: AsyncSession) -> uuid.UUID:
    organization = await create_organization(session)
    await session.commit()
    return organization.id


async def _rows(organization_id: uuid.UUID) -> list[tuple[uuid.UUID, str, float]]:
    async with session_factory()() as session:
        rows = await session.execute(
            select(AISpend.id, AISpend.model, AISpend.cost)
            .where(AISpend.organization_id == organization_id)
            .order_by(AISpend.cost)
        )
        return [(row.id, row.model, row.cost) for row in rows]


async def test_concurrent_reservations_on_separate_connections_never_cross_a_limit(
    session: AsyncSession,
) -> None:
    organization_id = await _organization(session)

    # One ledger per call, as separate workers would have; each reservation opens its session.
    reasons = await asyncio.gather(
        *(DatabaseSpendLedger(organization_id).reserve(LIMITS, estimate(0.1)) for _ in range(20))
    )

    assert sum(reason is None for reason in reasons) == 10
    refused = [reason for reason in reasons if reason is not None]
    assert all(reason.startswith("cost_limits.daily_cost_limit 1.0000") for reason in refused)
    rows = await _rows(organization_id)
    assert len(rows) == 10
    total = await session.scalar(
        select(func.sum(AISpend.cost)).where(AISpend.organization_id == organization_id)
    )
    assert total is not None
    assert total <= LIMITS.daily_cost_limit


async def test_the_refusal_names_the_limit_the_spend_and_the_estimate(
    session: AsyncSession,
) -> None:
    ledger = DatabaseSpendLedger(await _organization(session))

    assert await ledger.reserve(LIMITS, estimate(1.0)) is None  # limits are inclusive
    assert await ledger.reserve(LIMITS, estimate(0.1)) == (
        "cost_limits.daily_cost_limit 1.0000 would be exceeded (spent 1.0000 + estimated 0.1000)"
    )
    free = estimate(0.0)
    assert await ledger.reserve(LIMITS, free) is None
    assert free.id not in [row[0] for row in await _rows(ledger.organization_id)]


async def test_settling_replaces_the_estimate_and_an_unpaid_call_frees_its_reservation(
    session: AsyncSession,
) -> None:
    ledger = DatabaseSpendLedger(await _organization(session))
    paid, unpaid = estimate(0.4), estimate(0.6)
    assert await ledger.reserve(LIMITS, paid) is None
    assert await ledger.reserve(LIMITS, unpaid) is None
    assert await ledger.reserve(LIMITS, estimate(0.1)) is not None  # 1.0 is reserved

    await ledger.settle(replace(paid, model="gpt-4o-mini-2024-07-18"), 0.25)
    await ledger.settle(unpaid, 0.0)

    assert await _rows(ledger.organization_id) == [(paid.id, "gpt-4o-mini-2024-07-18", 0.25)]
    assert await ledger.spent(DAY) == pytest.approx(0.25)
    assert await ledger.reserve(LIMITS, estimate(0.75)) is None


async def test_organizations_have_their_own_budgets_and_locks(session: AsyncSession) -> None:
    first = DatabaseSpendLedger(await _organization(session))
    second = DatabaseSpendLedger(await _organization(session))
    assert await first.reserve(LIMITS, estimate(1.0)) is None
    assert await first.reserve(LIMITS, estimate(0.1)) is not None

    assert await second.reserve(LIMITS, estimate(1.0)) is None
    assert await second.spent(DAY) == pytest.approx(1.0)
    await first.settle(estimate(0.0), 0.0)  # nothing of the other's is touched

    # While a reservation of the first organization holds its lock, the second's go through
    # and the first's wait.
    async with session_factory()() as holder:
        await repo.lock_spend(holder, first.organization_id)
        waiting = asyncio.create_task(first.reserve(LIMITS, estimate(0.0001)))
        other = DatabaseSpendLedger(await _organization(session))
        assert await asyncio.wait_for(other.reserve(LIMITS, estimate(0.5)), timeout=10) is None
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await holder.rollback()
    assert (await waiting) is not None  # then checked against the first's full budget
    assert await first.spent(DAY) == pytest.approx(1.0)
