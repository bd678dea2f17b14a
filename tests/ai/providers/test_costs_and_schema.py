"""Cost arithmetic, the spend ledger and its reservations, and the JSON schema sent to providers."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from ticketcreator.ai.providers import (
    CompletionRequest,
    InMemorySpendLedger,
    InvalidOutput,
    SpendEntry,
    Usage,
    call_cost,
    estimate_cost,
    output_schema,
    schema_name,
    validate_output,
)
from ticketcreator.core.ai_config import CostLimits, ModelSpec

from .conftest import GOOD, TriageAnswer

SPEC = ModelSpec(name="gpt-4o", max_tokens=1000, cost_per_1k_tokens=0.0025)
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICKET = uuid.uuid4()


def test_cost_is_tokens_times_the_price_per_thousand() -> None:
    assert call_cost(Usage(input_tokens=1200, output_tokens=300), SPEC) == pytest.approx(
        1.5 * 0.0025
    )
    assert call_cost(Usage(), SPEC) == 0
    free = ModelSpec(name="llama", cost_per_1k_tokens=0)
    assert call_cost(Usage(10_000, 10_000), free) == 0


def test_the_estimate_counts_prompt_schema_and_the_whole_output_budget() -> None:
    schema = {"type": "object"}
    request = CompletionRequest(
        system="s" * 400,
        user="u" * 3600,
        schema_name="X",
        json_schema=schema,
        role="primary",
        model=SPEC,
        max_tokens=1000,
        temperature=0.2,
        timeout=10,
    )
    prompt_tokens = -(-(4000 + len(json.dumps(schema))) // 4)
    assert estimate_cost(request) == pytest.approx((prompt_tokens + 1000) / 1000 * 0.0025)


async def test_the_ledger_sums_by_period_and_ticket() -> None:
    ledger = InMemorySpendLedger(
        [SpendEntry(at=datetime(2025, 3, 1, tzinfo=UTC), provider="openai", model="m", cost=1.0)]
    )
    generous = CostLimits(max_cost_per_ticket=10, daily_cost_limit=10, monthly_cost_limit=10)
    ticket_entry = SpendEntry(at=NOW, provider="openai", model="m", cost=0.5, ticket_id=TICKET)
    assert await ledger.reserve(generous, ticket_entry) is None
    assert await ledger.reserve(generous, SpendEntry(NOW, "google", "m", 0.25)) is None

    assert await ledger.spent(datetime(2025, 1, 1, tzinfo=UTC)) == pytest.approx(1.75)
    assert await ledger.spent(datetime(2025, 3, 15, tzinfo=UTC)) == pytest.approx(0.75)
    assert await ledger.spent(datetime(2025, 1, 1, tzinfo=UTC), TICKET) == pytest.approx(0.5)


def _estimate(cost: float, ticket_id: uuid.UUID | None = None, at: datetime = NOW) -> SpendEntry:
    return SpendEntry(at=at, provider="openai", model="gpt-4o", cost=cost, ticket_id=ticket_id)


async def test_limits_are_inclusive_and_free_calls_always_pass() -> None:
    limits = CostLimits(max_cost_per_ticket=1.0, daily_cost_limit=2.0, monthly_cost_limit=3.0)
    ledger = InMemorySpendLedger([SpendEntry(at=NOW, provider="openai", model="m", cost=1.5)])

    refused = await ledger.reserve(limits, _estimate(0.6))
    assert refused == (
        "cost_limits.daily_cost_limit 2.0000 would be exceeded (spent 1.5000 + estimated 0.6000)"
    )
    assert await ledger.reserve(limits, _estimate(0.5)) is None  # exactly at the limit
    assert await ledger.spent(_EPOCH) == pytest.approx(2.0)
    free = _estimate(0.0)
    assert await ledger.reserve(limits, free) is None
    assert free not in ledger.entries
    ticket_reason = await InMemorySpendLedger().reserve(limits, _estimate(1.2, TICKET))
    assert ticket_reason is not None
    assert ticket_reason.startswith("cost_limits.max_cost_per_ticket")


async def test_days_and_months_are_utc() -> None:
    limits = CostLimits(daily_cost_limit=1.0, monthly_cost_limit=100.0)
    late_yesterday_utc = datetime(2025, 3, 14, 23, 30, tzinfo=UTC)
    ledger = InMemorySpendLedger(
        [SpendEntry(at=late_yesterday_utc, provider="openai", model="m", cost=0.9)]
    )
    from zoneinfo import ZoneInfo

    # 02:00 in Berlin on the 15th is 01:00 UTC; 23:30 UTC on the 14th (00:30 in Berlin) is
    # yesterday by the UTC day the limits use.
    berlin_now = datetime(2025, 3, 15, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert await ledger.reserve(limits, _estimate(0.5, at=berlin_now)) is None


async def test_concurrent_reservations_never_cross_a_limit() -> None:
    limits = CostLimits(max_cost_per_ticket=10, daily_cost_limit=1.0, monthly_cost_limit=10)
    ledger = InMemorySpendLedger()

    reasons = await asyncio.gather(*(ledger.reserve(limits, _estimate(0.1)) for _ in range(20)))

    assert sum(reason is None for reason in reasons) == 10
    refused = [reason for reason in reasons if reason is not None]
    assert all(reason.startswith("cost_limits.daily_cost_limit 1.0000") for reason in refused)
    assert len(ledger.entries) == 10
    assert await ledger.spent(_EPOCH) <= 1.0


async def test_settling_replaces_the_estimate_and_an_unpaid_call_frees_it() -> None:
    limits = CostLimits(max_cost_per_ticket=10, daily_cost_limit=1.0, monthly_cost_limit=10)
    ledger = InMemorySpendLedger()
    paid, unpaid = _estimate(0.4, TICKET), _estimate(0.6)
    assert await ledger.reserve(limits, paid) is None
    assert await ledger.reserve(limits, unpaid) is None
    assert await ledger.reserve(limits, _estimate(0.1)) is not None  # 1.0 reserved

    await ledger.settle(replace(paid, model="gpt-4o-2024-08-06"), 0.25)
    await ledger.settle(unpaid, 0.0)

    assert ledger.entries == [replace(paid, model="gpt-4o-2024-08-06", cost=0.25)]
    assert await ledger.spent(_EPOCH) == pytest.approx(0.25)
    assert await ledger.reserve(limits, _estimate(0.75)) is None
    await ledger.settle(_estimate(0.0), 0.0)  # never recorded (free): nothing to do
    assert await ledger.spent(_EPOCH) == pytest.approx(1.0)


def test_the_output_schema_is_strict_and_self_contained() -> None:
    schema = output_schema(TriageAnswer)

    assert "$defs" not in json.dumps(schema)
    assert "$ref" not in json.dumps(schema)
    assert "default" not in json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["category", "priority", "confidence", "tags", "entities"]
    entity = schema["properties"]["entities"]["items"]
    assert entity["additionalProperties"] is False
    assert entity["required"] == ["kind", "value"]
    assert entity["properties"]["kind"]["enum"] == ["url", "error_code", "http_status"]
    assert schema["properties"]["confidence"]["maximum"] == 1


def test_output_schema_returns_independent_copies() -> None:
    output_schema(TriageAnswer)["properties"].clear()
    assert output_schema(TriageAnswer)["properties"]


def test_recursive_models_are_rejected() -> None:
    class Node(BaseModel):
        label: str
        children: list[Node]

    with pytest.raises(ValueError, match="recursive output model 'Node'"):
        output_schema(Node)


def test_schema_names_fit_the_vendors_rules() -> None:
    Generic = type("Answer[str] v2", (BaseModel,), {"__annotations__": {"x": str}})
    assert schema_name(TriageAnswer) == "TriageAnswer"
    assert schema_name(Generic) == "Answer_str__v2"


def test_validation_accepts_text_and_objects_and_names_bad_fields() -> None:
    assert validate_output(TriageAnswer, json.dumps(GOOD), provider="p", model="m").tags == [
        "invoice"
    ]
    assert validate_output(TriageAnswer, GOOD, provider="p", model="m").category == "Billing"
    with pytest.raises(InvalidOutput, match=r"\(root\): json_invalid") as caught:
        validate_output(TriageAnswer, "{", provider="p", model="m", usage=Usage(1, 2), cost=0.5)
    assert caught.value.usage == Usage(1, 2)
    assert caught.value.cost == 0.5
    assert caught.value.provider == "p"
