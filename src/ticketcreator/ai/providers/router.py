"""The strategy executor: which provider answers, in what order, within what time and budget.

For one prompt the router walks the chain ``[agent's provider], primary_provider,
*fallback_chain, local`` (duplicates and disabled or unavailable providers removed) until a
provider returns a valid instance of the output model. ``local`` always closes the chain: it
needs no network and no money, so a ticket is triaged even when every cloud provider is down,
too slow or over budget.

Before a remote provider sees any text it is redacted (the privacy module's :func:`redact`
by default), and the estimated cost of the call is reserved in the spend ledger, which checks
it against the per-ticket, daily and monthly limits atomically; an over-budget provider is
skipped. After the call the reservation is settled with the actual cost.
``performance.max_generation_time`` is an overall deadline for the remote providers; with
``auto_fallback_on_timeout: false`` a timeout ends the routing instead of moving on. Every
attempt, successful or not, is listed in the returned :class:`Decision`, which the triage
pipeline stores next to its result.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from ticketcreator.ai.providers.anthropic import AnthropicProvider
from ticketcreator.ai.providers.base import (
    Completion,
    CompletionRequest,
    InvalidOutput,
    Outcome,
    Provider,
    ProviderFailure,
    ProviderTimeout,
    output_schema,
    schema_name,
)
from ticketcreator.ai.providers.costs import SpendEntry, SpendLedger, estimate_cost
from ticketcreator.ai.providers.google import GoogleProvider
from ticketcreator.ai.providers.http import HttpProvider, RetryPolicy, Sleep
from ticketcreator.ai.providers.ollama import OllamaProvider
from ticketcreator.ai.providers.openai import OpenAIProvider
from ticketcreator.core.ai_config import LOCAL, AgentConfig, AIConfig, ModelSpec
from ticketcreator.core.config import ConfigError
from ticketcreator.privacy.redaction import RedactionResult, redact

log = logging.getLogger(__name__)

Redactor = Callable[[str], RedactionResult]

HTTP_PROVIDERS: Mapping[str, type[HttpProvider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "google": GoogleProvider,
    "ollama": OllamaProvider,
}
_DEFAULT_ROLE = "primary"


def build_http_providers(
    config: AIConfig, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep
) -> list[Provider]:
    """One provider object per enabled HTTP provider of the configuration, sharing ``client``.

    An enabled provider this product has no implementation for is a configuration error, named
    by its key, rather than a silently ignored entry.
    """
    retry = RetryPolicy.from_strategy(config.ai_strategy)
    providers: list[Provider] = []
    for name, provider_config in config.ai_providers.items():
        if name == LOCAL or not provider_config.enabled:
            continue
        implementation = HTTP_PROVIDERS.get(name)
        if implementation is None:
            known = ", ".join(sorted(HTTP_PROVIDERS))
            raise ConfigError(f"ai_providers.{name}: no such provider (known: local, {known})")
        providers.append(implementation(name, provider_config, client, retry, sleep=sleep))
    return providers


@dataclass(frozen=True)
class Prompt:
    """The text of one AI task: the system prompt (from a template) and the ticket content."""

    system: str
    user: str


@dataclass(frozen=True)
class Attempt:
    """One provider's turn in the chain. ``error`` never holds API keys or ticket text."""

    provider: str
    model: str | None
    outcome: Outcome
    latency_ms: float = 0.0
    cost: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    """The record of one routed call: every attempt, who answered, total cost and time."""

    attempts: tuple[Attempt, ...]
    provider: str | None
    model: str | None
    cost: float
    latency_ms: float
    within_preferred_time: bool
    # What was removed from the text prepared for remote providers, per kind.
    redactions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for storage and the ticket's API."""
        data = asdict(self)
        data["attempts"] = [
            {**attempt, "outcome": str(attempt["outcome"])} for attempt in data["attempts"]
        ]
        return data


@dataclass(frozen=True)
class Routed[T: BaseModel]:
    completion: Completion[T]
    decision: Decision

    @property
    def value(self) -> T:
        return self.completion.value


class RoutingFailed(Exception):
    """No provider in the chain produced a valid answer; ``decision`` says what each did."""

    def __init__(self, decision: Decision) -> None:
        summary = ", ".join(f"{a.provider}={a.outcome}" for a in decision.attempts) or "none"
        super().__init__(f"no AI provider produced a valid answer ({summary})")
        self.decision = decision


@dataclass(frozen=True)
class _Call:
    """What stays the same across the attempts of one routed call."""

    prompt: Prompt
    redacted: Prompt
    schema_name: str
    json_schema: dict[str, Any]
    agent: AgentConfig | None
    deadline: float
    ticket_id: uuid.UUID | None


class Router:
    """Runs AI calls along the configured strategy.

    ``providers`` are the provider objects, known by their ``name``: the HTTP ones from
    :func:`build_http_providers` plus the ``local`` provider the caller builds from the
    embedded models. ``redact`` is applied to every text sent to a remote provider;
    ``ledger`` reserves and settles the spend the cost limits are checked against.
    """

    def __init__(
        self,
        config: AIConfig,
        providers: Iterable[Provider],
        ledger: SpendLedger,
        *,
        redact: Redactor = redact,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            if provider.name in self._providers:
                raise ValueError(f"two providers named {provider.name!r}")
            self._providers[provider.name] = provider
        self._ledger = ledger
        self._redact = redact
        self._clock = clock

    def chain(self, agent: AgentConfig | None = None) -> list[str]:
        """The providers to try, in order, for a call (optionally on behalf of an agent)."""
        strategy = self._config.ai_strategy
        candidates = [
            *([agent.model_provider] if agent is not None else []),
            strategy.primary_provider,
            *strategy.fallback_chain,
            LOCAL,
        ]
        chain: list[str] = []
        for name in candidates:
            configured = self._config.ai_providers.get(name)
            usable = configured is not None and configured.enabled and name in self._providers
            if usable and name not in chain:
                chain.append(name)
        return chain

    async def complete[T: BaseModel](
        self,
        prompt: Prompt,
        output: type[T],
        *,
        agent: str | None = None,
        ticket_id: uuid.UUID | None = None,
    ) -> Routed[T]:
        """The first valid answer along the chain, with the decision record.

        Raises :class:`RoutingFailed` (carrying the decision) when no provider answered.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        agent_config = self._config.agent(agent) if agent is not None else None
        chain = [self._providers[name] for name in self.chain(agent_config)]
        redacted = self._redacted(prompt) if any(p.remote for p in chain) else None
        call = _Call(
            prompt=prompt,
            redacted=redacted[0] if redacted else prompt,
            schema_name=schema_name(output),
            json_schema=output_schema(output),
            agent=agent_config,
            deadline=started + self._config.ai_strategy.performance.max_generation_time,
            ticket_id=ticket_id,
        )
        counts = redacted[1] if redacted else Counter[str]()
        attempts: list[Attempt] = []
        for provider in chain:
            attempt, completion = await self._attempt(provider, call, output)
            attempts.append(attempt)
            self._log(attempt)
            if completion is not None:
                decision = self._decision(attempts, completion, loop.time() - started, counts)
                return Routed(completion=completion, decision=decision)
            fallback = self._config.ai_strategy.performance.auto_fallback_on_timeout
            if attempt.outcome is Outcome.TIMEOUT and not fallback:
                break
        raise RoutingFailed(self._decision(attempts, None, loop.time() - started, counts))

    async def _attempt[T: BaseModel](
        self, provider: Provider, call: _Call, output: type[T]
    ) -> tuple[Attempt, Completion[T] | None]:
        """One provider's turn: skipped, over budget, failed, or the answer.

        A remote call reserves its estimated cost first and settles the reservation with the
        attempt's cost afterwards. When the call ends otherwise (cancelled, or an unexpected
        error) the estimate stays reserved: whether it was paid is unknown.
        """
        loop = asyncio.get_running_loop()
        name = provider.name
        role, spec = self._model(name, call.agent)
        if spec is None:
            return Attempt(name, None, Outcome.SKIPPED, error=f"no model role {role!r}"), None
        if provider.remote and loop.time() >= call.deadline:
            late = "performance.max_generation_time reached"
            return Attempt(name, spec.name, Outcome.SKIPPED, error=late), None
        request = self._request(provider, call, role, spec)
        if not provider.remote:
            return await self._call(provider, request, output)
        reservation = SpendEntry(
            at=self._clock(),
            provider=name,
            model=spec.name,
            cost=estimate_cost(request),
            ticket_id=call.ticket_id,
        )
        over = await self._ledger.reserve(self._config.ai_strategy.cost_limits, reservation)
        if over is not None:
            return Attempt(name, spec.name, Outcome.OVER_BUDGET, error=over), None
        attempt, completion = await self._call(provider, request, output)
        paid = replace(reservation, model=attempt.model or spec.name)
        await self._ledger.settle(paid, attempt.cost)
        return attempt, completion

    async def _call[T: BaseModel](
        self, provider: Provider, request: CompletionRequest, output: type[T]
    ) -> tuple[Attempt, Completion[T] | None]:
        """The provider's answer or failure, within the deadline (remote) or model timeout."""
        loop = asyncio.get_running_loop()
        name, spec = provider.name, request.model
        started = loop.time()
        limit = request.deadline if request.deadline is not None else started + request.timeout
        try:
            async with asyncio.timeout_at(limit):
                completion = await provider.complete(request, output)
        except TimeoutError:
            message = (
                "performance.max_generation_time reached"
                if provider.remote
                else f"no answer within {request.timeout:.2f}s"
            )
            timeout = ProviderTimeout(name, message)
            return self._failed(name, spec, timeout, loop.time() - started), None
        except ProviderFailure as exc:
            return self._failed(name, spec, exc, loop.time() - started), None
        latency_ms = round((loop.time() - started) * 1000, 3)
        attempt = Attempt(name, completion.model, Outcome.OK, latency_ms, completion.cost)
        return attempt, completion

    @staticmethod
    def _request(provider: Provider, call: _Call, role: str, spec: ModelSpec) -> CompletionRequest:
        """The call's parameters: the agent's settings bounded by the model's, else the model's."""
        agent = call.agent
        text = call.redacted if provider.remote else call.prompt
        return CompletionRequest(
            system=text.system,
            user=text.user,
            schema_name=call.schema_name,
            json_schema=call.json_schema,
            role=role,
            model=spec,
            max_tokens=min(agent.max_tokens, spec.max_tokens) if agent else spec.max_tokens,
            temperature=agent.temperature if agent else spec.temperature,
            timeout=min(agent.timeout, spec.timeout) if agent else spec.timeout,
            deadline=call.deadline if provider.remote else None,
        )

    def _model(self, provider: str, agent: AgentConfig | None) -> tuple[str, ModelSpec | None]:
        """The role for ``provider``: the agent's own, else ``model_strategy``, else primary."""
        if agent is not None and agent.model_provider == provider:
            role = agent.model_name
        else:
            role = self._config.ai_strategy.model_strategy.get(provider, _DEFAULT_ROLE)
        return role, self._config.ai_providers[provider].models.get(role)

    def _redacted(self, prompt: Prompt) -> tuple[Prompt, Counter[str]]:
        system, user = self._redact(prompt.system), self._redact(prompt.user)
        counts: Counter[str] = Counter()
        for result in (system, user):
            counts.update({str(kind): count for kind, count in result.counts.items()})
        return Prompt(system=system.text, user=user.text), counts

    @staticmethod
    def _failed(provider: str, spec: ModelSpec, exc: ProviderFailure, elapsed: float) -> Attempt:
        """A failed attempt; invalid output was answered, so it names the model and is paid."""
        latency_ms = round(elapsed * 1000, 3)
        if isinstance(exc, InvalidOutput):
            model = exc.model or spec.name
            return Attempt(provider, model, exc.outcome, latency_ms, exc.cost, exc.message)
        return Attempt(provider, spec.name, exc.outcome, latency_ms, error=exc.message)

    def _decision(
        self,
        attempts: list[Attempt],
        completion: Completion[Any] | None,
        elapsed: float,
        redactions: Counter[str],
    ) -> Decision:
        preferred = self._config.ai_strategy.performance.preferred_generation_time
        return Decision(
            attempts=tuple(attempts),
            provider=completion.provider if completion else None,
            model=completion.model if completion else None,
            cost=sum(attempt.cost for attempt in attempts),
            latency_ms=round(elapsed * 1000, 3),
            within_preferred_time=completion is not None and elapsed <= preferred,
            redactions=dict(redactions),
        )

    @staticmethod
    def _log(attempt: Attempt) -> None:
        log.info(
            "ai provider attempt",
            extra={
                "ai_provider": attempt.provider,
                "ai_model": attempt.model,
                "ai_outcome": str(attempt.outcome),
                "ai_latency_ms": attempt.latency_ms,
                "ai_cost": attempt.cost,
                "ai_error": attempt.error,
            },
        )
