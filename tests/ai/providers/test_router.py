"""The router against the fake servers: fallback order, deadlines, cost limits, redaction."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from ticketcreator.ai.providers import (
    Completion,
    CompletionRequest,
    InMemorySpendLedger,
    Outcome,
    Prompt,
    ProviderError,
    Router,
    RoutingFailed,
    SpendEntry,
)
from ticketcreator.privacy.redaction import RedactionResult

from .conftest import GOOD, KEYS, KeywordLocal, RouterFactory, TriageAnswer, make_config
from .fakes import FakeVendor

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
PROMPT = Prompt(
    system="Choose one category.",
    user="Invoice page down since 9:00, reported by jane.doe@example.com, HTTP 502.",
)
TICKET = uuid.UUID("00000000-0000-0000-0000-00000000abcd")


def outcomes(decision: Any) -> list[tuple[str, Outcome]]:
    return [(attempt.provider, attempt.outcome) for attempt in decision.attempts]


def clock() -> datetime:
    return NOW


async def test_the_primary_answers_and_its_cost_is_recorded(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    fakes["openai"].answer(GOOD, input_tokens=400, output_tokens=100)
    router = make_router(clock=clock)

    routed = await router.complete(PROMPT, TriageAnswer, ticket_id=TICKET)

    assert routed.value == TriageAnswer.model_validate(GOOD)
    decision = routed.decision
    assert outcomes(decision) == [("openai", Outcome.OK)]
    assert decision.provider == "openai"
    assert decision.model == "gpt-4o-mini-2024-07-18"
    assert decision.cost == pytest.approx(0.5 * 0.002)
    assert decision.within_preferred_time
    (entry,) = ledger.entries
    assert entry == SpendEntry(
        at=NOW,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        cost=pytest.approx(0.001),  # type: ignore[arg-type]
        ticket_id=TICKET,
        id=entry.id,
    )


async def test_text_for_cloud_providers_is_redacted_and_local_gets_the_original(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], local: KeywordLocal
) -> None:
    fakes["openai"].answer("not json at all")
    fakes["anthropic"].down()
    fakes["google"].down()
    fakes["ollama"].down()

    routed = await make_router().complete(PROMPT, TriageAnswer)

    assert routed.decision.provider == "local"
    assert routed.decision.redactions == {"EMAIL": 1}
    for name in ("openai", "anthropic", "google", "ollama"):
        for request in fakes[name].requests:
            assert "jane.doe@example.com" not in request.content.decode()
            assert "[EMAIL]" in request.content.decode()
    assert "jane.doe@example.com" in local.requests[0].user


async def test_a_custom_redactor_is_used(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    def shout(text: str) -> RedactionResult:
        return RedactionResult(text=text.upper(), counts={})

    fakes["openai"].answer(GOOD)
    routed = await make_router(redact=shout).complete(PROMPT, TriageAnswer)

    assert json.loads(fakes["openai"].requests[0].content)["messages"][1]["content"] == (
        PROMPT.user.upper()
    )
    assert routed.decision.redactions == {}


async def test_invalid_output_falls_through_to_the_next_provider_and_is_still_paid(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    fakes["openai"].answer('{"category": "Billing"', input_tokens=900, output_tokens=100)
    fakes["anthropic"].answer(GOOD, input_tokens=250, output_tokens=250)

    routed = await make_router().complete(PROMPT, TriageAnswer)

    assert outcomes(routed.decision) == [
        ("openai", Outcome.INVALID_OUTPUT),
        ("anthropic", Outcome.OK),
    ]
    first, second = routed.decision.attempts
    assert first.cost == pytest.approx(0.002)
    assert first.model == "gpt-4o-mini-2024-07-18"
    assert first.error is not None
    assert "TriageAnswer" in first.error
    assert second.cost == pytest.approx(0.002)
    assert routed.decision.cost == pytest.approx(0.004)
    assert [entry.provider for entry in ledger.entries] == ["openai", "anthropic"]


async def test_a_provider_that_is_down_hands_over_to_the_next(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    fakes["openai"].down()
    fakes["anthropic"].error(401, "invalid x-api-key")
    fakes["google"].answer(GOOD)

    routed = await make_router().complete(PROMPT, TriageAnswer)

    assert outcomes(routed.decision) == [
        ("openai", Outcome.ERROR),
        ("anthropic", Outcome.ERROR),
        ("google", Outcome.OK),
    ]
    assert len(fakes["openai"].requests) == 3
    assert len(fakes["anthropic"].requests) == 1
    assert routed.decision.attempts[1].error == (
        "HTTP 401: authentication_error: invalid x-api-key"
    )
    # The unpaid failures released their reservations; only the answer is spend.
    assert [entry.provider for entry in ledger.entries] == ["google"]


async def test_rate_limited_everywhere_ends_with_local(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    for name in ("openai", "anthropic", "google", "ollama"):
        for _ in range(3):
            fakes[name].error(429, "quota", headers={"retry-after": "1"})

    routed = await make_router().complete(PROMPT, TriageAnswer)

    assert outcomes(routed.decision) == [
        ("openai", Outcome.RATE_LIMITED),
        ("anthropic", Outcome.RATE_LIMITED),
        ("google", Outcome.RATE_LIMITED),
        ("ollama", Outcome.RATE_LIMITED),
        ("local", Outcome.OK),
    ]
    assert routed.value.priority == "urgent"
    assert routed.decision.model == "minilm-triage"
    assert routed.decision.cost == 0


async def test_local_closes_the_chain_even_when_not_listed(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    def cloud_only(raw: dict[str, Any]) -> None:
        raw["ai_strategy"]["fallback_chain"] = ["anthropic"]

    fakes["openai"].down()
    fakes["anthropic"].down()
    router = make_router(make_config(cloud_only))

    assert router.chain() == ["openai", "anthropic", "local"]
    routed = await router.complete(PROMPT, TriageAnswer)
    assert routed.decision.provider == "local"


async def test_an_agent_picks_its_provider_role_and_settings(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    fakes["anthropic"].answer(GOOD)
    router = make_router()

    routed = await router.complete(PROMPT, TriageAnswer, agent="categorization")

    assert outcomes(routed.decision) == [("anthropic", Outcome.OK)]
    body = json.loads(fakes["anthropic"].requests[0].content)
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 300  # the agent's, below the model's 400
    assert body["temperature"] == 0.0
    assert router.chain(make_config().agent("categorization")) == [
        "anthropic",
        "openai",
        "google",
        "ollama",
        "local",
    ]


async def test_a_provider_without_the_wanted_model_role_is_skipped(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    def rename_role(raw: dict[str, Any]) -> None:
        raw["ai_strategy"]["fallback_chain"] = ["ollama", "local"]
        raw["ai_providers"]["ollama"]["models"] = {"big": {"name": "llama3.1:70b"}}

    fakes["openai"].down()
    routed = await make_router(make_config(rename_role)).complete(PROMPT, TriageAnswer)

    assert outcomes(routed.decision)[1:] == [
        ("ollama", Outcome.SKIPPED),
        ("local", Outcome.OK),
    ]
    assert routed.decision.attempts[1].error == "no model role 'primary'"
    assert fakes["ollama"].requests == []


# -- deadlines ----------------------------------------------------------------------------------


def _deadline(seconds: float, *, auto_fallback: bool = True) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        performance = raw["ai_strategy"]["performance"]
        performance["max_generation_time"] = seconds
        performance["preferred_generation_time"] = seconds / 10
        performance["auto_fallback_on_timeout"] = auto_fallback

    return make_config(mutate)


async def test_max_generation_time_bounds_the_cloud_and_local_still_answers(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    fakes["openai"].hang(10)

    started = time.perf_counter()
    routed = await make_router(_deadline(0.3)).complete(PROMPT, TriageAnswer)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert outcomes(routed.decision) == [
        ("openai", Outcome.TIMEOUT),
        ("anthropic", Outcome.SKIPPED),
        ("google", Outcome.SKIPPED),
        ("ollama", Outcome.SKIPPED),
        ("local", Outcome.OK),
    ]
    assert routed.decision.attempts[1].error == "performance.max_generation_time reached"
    assert 250 <= routed.decision.attempts[0].latency_ms < 1000
    assert not routed.decision.within_preferred_time
    assert fakes["anthropic"].requests == []


async def test_the_deadline_cuts_a_provider_mid_call(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], sleeps: Any
) -> None:
    """Even when one attempt's own timeout (10 s) is longer, the overall deadline wins."""
    fakes["openai"].error(500, "boom")
    fakes["openai"].hang(10)

    routed = await make_router(_deadline(0.8)).complete(PROMPT, TriageAnswer)

    assert routed.decision.attempts[0].outcome is Outcome.TIMEOUT
    assert sleeps.delays == [0.5]
    assert routed.decision.provider == "local"


async def test_without_auto_fallback_a_timeout_ends_the_routing(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    fakes["openai"].hang(10)

    with pytest.raises(RoutingFailed, match="openai=timeout") as caught:
        await make_router(_deadline(0.2, auto_fallback=False)).complete(PROMPT, TriageAnswer)

    assert outcomes(caught.value.decision) == [("openai", Outcome.TIMEOUT)]
    assert caught.value.decision.provider is None
    assert not caught.value.decision.within_preferred_time


async def test_a_stuck_local_provider_times_out_on_its_model_timeout(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], local: KeywordLocal
) -> None:
    class StuckLocal(KeywordLocal):
        async def complete[T: BaseModel](
            self, request: CompletionRequest, output: type[T]
        ) -> Completion[T]:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    def local_only(raw: dict[str, Any]) -> None:
        raw["ai_strategy"]["primary_provider"] = "local"
        raw["ai_strategy"]["fallback_chain"] = ["local"]
        raw["ai_providers"]["local"]["models"]["triage"]["timeout"] = 0.05

    config = make_config(local_only)
    router = Router(config, [StuckLocal()], InMemorySpendLedger())

    with pytest.raises(RoutingFailed) as caught:
        await router.complete(PROMPT, TriageAnswer)

    (attempt,) = caught.value.decision.attempts
    assert attempt.outcome is Outcome.TIMEOUT
    assert attempt.error == "no answer within 0.05s"


async def test_nothing_left_raises_with_the_decision(fakes: dict[str, FakeVendor]) -> None:
    class BrokenLocal(KeywordLocal):
        async def complete[T: BaseModel](
            self, request: CompletionRequest, output: type[T]
        ) -> Completion[T]:
            raise ProviderError("local", "model files missing")

    router = Router(make_config(), [BrokenLocal()], InMemorySpendLedger())

    assert router.chain() == ["local"]
    with pytest.raises(RoutingFailed, match="local=error") as caught:
        await router.complete(PROMPT, TriageAnswer)
    assert caught.value.decision.attempts[0].error == "model files missing"


# -- cost limits --------------------------------------------------------------------------------


def _no_free_cloud(raw: dict[str, Any]) -> None:
    """Ollama is free and so never over budget; leave it out to see the limits bite."""
    raw["ai_strategy"]["fallback_chain"] = ["anthropic", "google", "local"]


async def test_over_the_daily_limit_every_paid_provider_is_skipped_for_local(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    ledger.entries.append(
        SpendEntry(at=NOW.replace(hour=1), provider="openai", model="m", cost=4.9995)
    )
    router = make_router(make_config(_no_free_cloud), clock=clock)

    routed = await router.complete(PROMPT, TriageAnswer, ticket_id=TICKET)

    assert outcomes(routed.decision) == [
        ("openai", Outcome.OVER_BUDGET),
        ("anthropic", Outcome.OVER_BUDGET),
        ("google", Outcome.OVER_BUDGET),
        ("local", Outcome.OK),
    ]
    error = routed.decision.attempts[0].error
    assert error is not None
    assert error.startswith("cost_limits.daily_cost_limit 5.0000 would be exceeded (spent 4.9995")
    assert all(not fake.requests for fake in fakes.values())


async def test_yesterdays_spend_does_not_count_against_today(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    ledger.entries.append(
        SpendEntry(at=NOW.replace(day=14), provider="openai", model="m", cost=4.999)
    )
    fakes["openai"].answer(GOOD)

    routed = await make_router(clock=clock).complete(PROMPT, TriageAnswer)

    assert routed.decision.provider == "openai"


async def test_over_the_monthly_limit_goes_local(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    ledger.entries.extend(
        [
            SpendEntry(at=datetime(2025, 2, 28, tzinfo=UTC), provider="openai", model="m", cost=99),
            SpendEntry(
                at=datetime(2025, 3, 2, tzinfo=UTC), provider="openai", model="m", cost=49.999
            ),
        ]
    )
    routed = await make_router(make_config(_no_free_cloud), clock=clock).complete(
        PROMPT, TriageAnswer
    )

    assert routed.decision.provider == "local"
    error = routed.decision.attempts[0].error
    assert error is not None
    assert error.startswith("cost_limits.monthly_cost_limit 50.0000 would be exceeded")


async def test_over_the_per_ticket_limit_only_that_ticket_goes_local(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    ledger.entries.append(
        SpendEntry(at=NOW, provider="openai", model="m", cost=0.0995, ticket_id=TICKET)
    )
    router = make_router(make_config(_no_free_cloud), clock=clock)

    routed = await router.complete(PROMPT, TriageAnswer, ticket_id=TICKET)
    assert routed.decision.provider == "local"
    error = routed.decision.attempts[0].error
    assert error is not None
    assert error.startswith("cost_limits.max_cost_per_ticket 0.1000 would be exceeded")

    fakes["openai"].answer(GOOD)
    other = await router.complete(PROMPT, TriageAnswer, ticket_id=uuid.uuid4())
    assert other.decision.provider == "openai"


async def test_the_estimate_is_reserved_during_the_call_and_settled_after(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    openai = fakes["openai"]
    during: list[SpendEntry] = []

    async def answer(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        during.extend(ledger.entries)
        return httpx.Response(200, json=openai.success(body, GOOD, 100, 50))

    openai.turns.append(answer)
    routed = await make_router(clock=clock).complete(PROMPT, TriageAnswer, ticket_id=TICKET)

    (reserved,) = during
    assert (reserved.at, reserved.provider, reserved.model) == (NOW, "openai", "gpt-4o-mini")
    assert reserved.ticket_id == TICKET
    assert reserved.cost > routed.decision.cost  # the estimate counts the whole output budget
    (settled,) = ledger.entries
    assert settled.id == reserved.id
    assert settled.model == "gpt-4o-mini-2024-07-18"
    assert settled.cost == pytest.approx(routed.decision.cost) == pytest.approx(0.0003)


async def test_concurrent_calls_cannot_together_cross_a_limit(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    def openai_then_local(raw: dict[str, Any]) -> None:
        raw["ai_strategy"]["fallback_chain"] = ["local"]

    router = make_router(make_config(openai_then_local), clock=clock)
    openai = fakes["openai"]
    estimates: list[float] = []
    release = asyncio.Event()

    async def measure(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        estimates.append(ledger.entries[-1].cost)
        return httpx.Response(200, json=openai.success(body, GOOD, 1, 1))

    async def slow(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=openai.success(body, GOOD, 100, 50))

    openai.turns.append(measure)
    await router.complete(PROMPT, TriageAnswer)
    # Room for one more estimate (and a half) today: only one of two concurrent calls fits.
    (estimate,) = estimates
    ledger.entries[:] = [SpendEntry(NOW, "openai", "m", cost=5.0 - 1.5 * estimate)]
    openai.turns.append(slow)

    calls = [asyncio.create_task(router.complete(PROMPT, TriageAnswer)) for _ in range(2)]
    done, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
    release.set()
    first, second = await asyncio.gather(*calls)

    # The call that reserved first waited for the vendor; the other was refused meanwhile.
    (refused,) = (task.result() for task in done)
    assert outcomes(refused.decision) == [("openai", Outcome.OVER_BUDGET), ("local", Outcome.OK)]
    error = refused.decision.attempts[0].error
    assert error is not None
    assert error.startswith("cost_limits.daily_cost_limit 5.0000 would be exceeded")
    assert sorted(routed.decision.provider or "" for routed in (first, second)) == [
        "local",
        "openai",
    ]
    assert len(openai.requests) == 2  # the measurement and one of the two calls
    assert await ledger.spent(NOW.replace(hour=0)) <= 5.0


async def test_a_free_provider_is_never_over_budget(
    make_router: RouterFactory, fakes: dict[str, FakeVendor], ledger: InMemorySpendLedger
) -> None:
    ledger.entries.append(SpendEntry(at=NOW, provider="openai", model="m", cost=1000))
    fakes["ollama"].answer(GOOD)

    routed = await make_router(clock=clock).complete(PROMPT, TriageAnswer)

    assert outcomes(routed.decision)[-1] == ("ollama", Outcome.OK)
    assert routed.decision.cost == 0


# -- secrets ------------------------------------------------------------------------------------


async def test_keys_never_reach_decisions_errors_or_logs(
    make_router: RouterFactory,
    fakes: dict[str, FakeVendor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for fake in fakes.values():
        fake.api_key = "a-different-key"  # every vendor rejects the configured key
    fakes["ollama"].error(404, "model 'llama3.1:8b' not found, try pulling it first")
    router = make_router()

    with caplog.at_level(logging.DEBUG):
        routed = await router.complete(PROMPT, TriageAnswer)

    assert routed.decision.provider == "local"
    assert [attempt.outcome for attempt in routed.decision.attempts[:4]] == [Outcome.ERROR] * 4
    record = json.dumps(routed.decision.to_dict())
    texts = [record, repr(routed.decision), caplog.text, repr(router.__dict__)]
    texts += [str(vars(entry)) for entry in caplog.records]
    for text in texts:
        for key in KEYS.values():
            assert key not in text
    assert "[REDACTED]" in record


async def test_the_decision_is_json_ready(
    make_router: RouterFactory, fakes: dict[str, FakeVendor]
) -> None:
    fakes["openai"].answer(GOOD)
    routed = await make_router().complete(PROMPT, TriageAnswer)

    data = json.loads(json.dumps(routed.decision.to_dict()))

    assert data["provider"] == "openai"
    assert data["attempts"][0]["outcome"] == "ok"
    assert data["redactions"] == {"EMAIL": 1}
    assert set(data["attempts"][0]) == {
        "provider",
        "model",
        "outcome",
        "latency_ms",
        "cost",
        "error",
    }


def test_two_providers_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two providers named 'local'"):
        Router(make_config(), [KeywordLocal(), KeywordLocal()], InMemorySpendLedger())
