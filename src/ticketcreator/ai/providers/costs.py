"""What AI calls cost, and the spending limits of ``ai_strategy.cost_limits``.

Cost is tokens x ``cost_per_1k_tokens`` of the model used (one price for input and output, as
the configuration has it). Limits are checked *before* a paid call with an estimate, because
the real cost is only known afterwards: an estimate that would cross the per-ticket, daily or
monthly limit sends the ticket to the free ``local`` provider instead.

Spend is read from and written to a :class:`SpendLedger`. :class:`InMemorySpendLedger` serves
tests and single-process tools; the database-backed ledger (summing the stored AI decisions,
so every worker sees the same totals) comes with the triage pipeline.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.core.ai_config import CostLimits, ModelSpec

# A ticket's spend counts from the beginning of time; day and month start at UTC midnight.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def call_cost(usage: Usage, model: ModelSpec) -> float:
    """The price of one call from the tokens the provider reported."""
    return usage.total_tokens / 1000 * model.cost_per_1k_tokens


def estimate_tokens(text: str) -> int:
    """A provider-independent token estimate (about four characters per token)."""
    return math.ceil(len(text) / 4)


def estimate_cost(request: CompletionRequest) -> float:
    """An upper-leaning estimate of a call: the prompt and schema, plus the full output budget."""
    prompt = request.system + request.user + json.dumps(request.json_schema)
    tokens = estimate_tokens(prompt) + request.max_tokens
    return tokens / 1000 * request.model.cost_per_1k_tokens


@dataclass(frozen=True)
class SpendEntry:
    """One paid call as the ledger stores it."""

    at: datetime
    provider: str
    model: str
    cost: float
    ticket_id: uuid.UUID | None = None


class SpendLedger(Protocol):
    """Where AI spend is recorded and summed."""

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        """Total cost of calls at or after ``since`` (for one ticket when ``ticket_id`` is set)."""
        ...

    async def record(self, entry: SpendEntry) -> None: ...


class InMemorySpendLedger:
    """A process-local ledger (tests, the evaluation command, single-process tools)."""

    def __init__(self, entries: list[SpendEntry] | None = None) -> None:
        self.entries: list[SpendEntry] = list(entries or [])
        self._lock = asyncio.Lock()

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        async with self._lock:
            return sum(
                entry.cost
                for entry in self.entries
                if entry.at >= since and (ticket_id is None or entry.ticket_id == ticket_id)
            )

    async def record(self, entry: SpendEntry) -> None:
        async with self._lock:
            self.entries.append(entry)


async def over_budget(
    ledger: SpendLedger,
    limits: CostLimits,
    estimate: float,
    *,
    now: datetime,
    ticket_id: uuid.UUID | None,
) -> str | None:
    """Why a call estimated at ``estimate`` must not be made, or None when it fits every limit.

    The reason names the limit (its configuration key), the spend so far and the estimate, so
    the decision record explains itself. Free calls are never blocked.
    """
    if estimate <= 0:
        return None
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    checks: list[tuple[str, float, datetime, uuid.UUID | None]] = [
        ("daily_cost_limit", limits.daily_cost_limit, day, None),
        ("monthly_cost_limit", limits.monthly_cost_limit, day.replace(day=1), None),
    ]
    if ticket_id is not None:
        checks.insert(0, ("max_cost_per_ticket", limits.max_cost_per_ticket, _EPOCH, ticket_id))
    for key, limit, since, ticket in checks:
        spent = await ledger.spent(since, ticket)
        if spent + estimate > limit:
            return (
                f"cost_limits.{key} {limit:.4f} would be exceeded "
                f"(spent {spent:.4f} + estimated {estimate:.4f})"
            )
    return None
