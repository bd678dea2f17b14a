"""What AI calls cost, and the spending limits of ``ai_strategy.cost_limits``.

Cost is tokens x ``cost_per_1k_tokens`` of the model used (one price for input and output, as
the configuration has it). The real cost is only known after a paid call, so the call first
*reserves* its estimate in a :class:`SpendLedger`: the ledger checks the per-ticket, daily
and monthly limits and records the estimate in one step that no other reservation of the same
spender can interleave with, so concurrent calls (several workers) cannot all pass the check
and together cross a limit. An estimate that does not fit sends the ticket to the free
``local`` provider instead. When the call is over, :meth:`SpendLedger.settle` replaces the
estimate by the actual cost (nothing, for a call that failed without being paid).

A worker that dies between reserve and settle leaves its estimate recorded: the ledger may
then count more than was spent, never less. (The actual cost can still exceed the estimate
by what the token estimate under-counts; the estimate includes the whole output budget.)

:class:`InMemorySpendLedger` serves tests and single-process tools; the database-backed ledger
(so every worker sees the same totals) comes with the triage pipeline.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.core.ai_config import CostLimits, ModelSpec

# A ticket's spend counts from the beginning of time; day and month start at UTC midnight.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The spend since a time, for one ticket or (None) for every ticket.
SpentQuery = Callable[[datetime, uuid.UUID | None], Awaitable[float]]


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
    """One paid call as the ledger stores it: reserved with its estimate, then settled.

    ``id`` names the reservation for :meth:`SpendLedger.settle`.
    """

    at: datetime
    provider: str
    model: str
    cost: float
    ticket_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


class SpendLedger(Protocol):
    """Where AI spend is reserved, settled and summed."""

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        """Total cost of calls at or after ``since`` (for one ticket when ``ticket_id`` is set)."""
        ...

    async def reserve(self, limits: CostLimits, entry: SpendEntry) -> str | None:
        """Record ``entry`` (``cost`` is the estimate) if it fits ``limits``, else say why not.

        Checking and recording are atomic with respect to every other reservation against the
        same totals. The reason is :func:`over_budget`'s; a free entry is never refused and
        not recorded.
        """
        ...

    async def settle(self, entry: SpendEntry, cost: float) -> None:
        """The reserved call ``entry.id`` is over: store its actual ``cost`` and ``model``.

        A cost of 0 (a call that failed without being paid) removes the reservation. Settling
        an entry that was never recorded (a free one) does nothing.
        """
        ...


class InMemorySpendLedger:
    """A process-local ledger (tests, the evaluation command, single-process tools)."""

    def __init__(self, entries: list[SpendEntry] | None = None) -> None:
        self.entries: list[SpendEntry] = list(entries or [])
        self._lock = asyncio.Lock()

    async def spent(self, since: datetime, ticket_id: uuid.UUID | None = None) -> float:
        async with self._lock:
            return await self._spent(since, ticket_id)

    async def reserve(self, limits: CostLimits, entry: SpendEntry) -> str | None:
        async with self._lock:
            reason = await over_budget(self._spent, limits, entry)
            if reason is None and entry.cost > 0:
                self.entries.append(entry)
            return reason

    async def settle(self, entry: SpendEntry, cost: float) -> None:
        async with self._lock:
            for index, stored in enumerate(self.entries):
                if stored.id == entry.id:
                    if cost > 0:
                        self.entries[index] = replace(stored, model=entry.model, cost=cost)
                    else:
                        del self.entries[index]
                    return

    async def _spent(self, since: datetime, ticket_id: uuid.UUID | None) -> float:
        return sum(
            entry.cost
            for entry in self.entries
            if entry.at >= since and (ticket_id is None or entry.ticket_id == ticket_id)
        )


async def over_budget(spent: SpentQuery, limits: CostLimits, entry: SpendEntry) -> str | None:
    """Why ``entry`` (its ``cost`` an estimate) must not be made, or None when it fits.

    ``spent`` sums the spend so far; the day and month are those of ``entry.at`` in UTC. The
    reason names the limit (its configuration key), the spend so far and the estimate, so the
    decision record explains itself. Free calls are never blocked. A ledger calls this inside
    its reservation, where no other reservation can change the sums.
    """
    estimate = entry.cost
    if estimate <= 0:
        return None
    day = entry.at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    checks: list[tuple[str, float, datetime, uuid.UUID | None]] = [
        ("daily_cost_limit", limits.daily_cost_limit, day, None),
        ("monthly_cost_limit", limits.monthly_cost_limit, day.replace(day=1), None),
    ]
    if entry.ticket_id is not None:
        checks.insert(
            0, ("max_cost_per_ticket", limits.max_cost_per_ticket, _EPOCH, entry.ticket_id)
        )
    for key, limit, since, ticket in checks:
        so_far = await spent(since, ticket)
        if so_far + estimate > limit:
            return (
                f"cost_limits.{key} {limit:.4f} would be exceeded "
                f"(spent {so_far:.4f} + estimated {estimate:.4f})"
            )
    return None
