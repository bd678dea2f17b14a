"""The provider interface: one typed call that turns a prompt into a validated pydantic object.

Every provider (the embedded ``local`` models and the cloud/HTTP ones) answers the same
question the same way: given a system prompt, the user's content and the JSON schema of the
wanted output, return an instance of the output model plus what it cost. Keeping the interface
this small is what lets the router swap providers freely along the fallback chain.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ticketcreator.core.ai_config import ModelSpec


class Outcome(StrEnum):
    """How one provider attempt ended; stored in the decision record."""

    OK = "ok"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    INVALID_OUTPUT = "invalid_output"
    OVER_BUDGET = "over_budget"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Usage:
    """Tokens billed for one call, as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class CompletionRequest:
    """Everything a provider needs for one call.

    ``timeout`` bounds one HTTP attempt; ``deadline`` (event-loop time, or None) bounds the
    whole call including retries, so a provider never sleeps past the router's overall budget.
    """

    system: str
    user: str
    schema_name: str
    json_schema: dict[str, Any]
    role: str
    model: ModelSpec
    max_tokens: int
    temperature: float
    timeout: float
    deadline: float | None = None


@dataclass(frozen=True)
class Completion[T: BaseModel]:
    """A validated answer and its bookkeeping (who answered, tokens, cost, latency)."""

    value: T
    provider: str
    model: str
    usage: Usage
    cost: float
    latency_ms: float


class ProviderFailure(Exception):
    """Base of the typed provider errors; ``outcome`` is what the decision record stores.

    Messages never contain API keys: providers scrub them before raising.
    """

    outcome: Outcome = Outcome.ERROR

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class ProviderTimeout(ProviderFailure):
    outcome = Outcome.TIMEOUT


class RateLimited(ProviderFailure):
    outcome = Outcome.RATE_LIMITED

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderError(ProviderFailure):
    """The provider answered with an error or could not be reached.

    ``retryable`` is true for server errors and connection failures, false for errors a retry
    cannot fix (bad request, authentication, unknown model).
    """

    outcome = Outcome.ERROR

    def __init__(
        self, provider: str, message: str, *, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(provider, message)
        self.status = status
        self.retryable = retryable


class InvalidOutput(ProviderFailure):
    """The provider answered, but not with a valid instance of the output model.

    Bad JSON, a schema mismatch, a truncated answer or a refusal. The tokens were billed
    anyway, so ``usage``, ``model`` and ``cost`` travel with the error into the cost ledger.
    """

    outcome = Outcome.INVALID_OUTPUT

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        model: str | None = None,
        usage: Usage | None = None,
        cost: float = 0.0,
    ) -> None:
        super().__init__(provider, message)
        self.model = model
        self.usage = usage or Usage()
        self.cost = cost


class Provider(Protocol):
    """What the router needs from a provider.

    ``remote`` says whether the text leaves this process: remote providers get redacted text
    and are subject to the cost limits; the embedded ``local`` provider is neither.
    """

    @property
    def name(self) -> str: ...

    @property
    def remote(self) -> bool: ...

    async def complete[T: BaseModel](
        self, request: CompletionRequest, output: type[T]
    ) -> Completion[T]: ...


_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]")


def schema_name(output: type[BaseModel]) -> str:
    """The output model's name in the form OpenAI and Anthropic accept for schema/tool names."""
    return _SCHEMA_NAME.sub("_", output.__name__)[:64]


@lru_cache(maxsize=128)
def _cached_schema(output: type[BaseModel]) -> dict[str, Any]:
    schema = output.model_json_schema()
    definitions = schema.pop("$defs", {})
    strict: dict[str, Any] = _strict(_inline(schema, definitions, ()))
    return strict


def output_schema(output: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent to providers for ``output``: self-contained and strict.

    References are inlined because Gemini and Ollama handle ``$ref`` poorly; every object gets
    ``additionalProperties: false`` and lists all its properties as required, which OpenAI's
    strict mode demands and which makes the other providers' output match pydantic exactly.
    Recursive models cannot be inlined and are rejected.
    """
    return copy.deepcopy(_cached_schema(output))


def _inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str):
        name = reference.rsplit("/", 1)[-1]
        if name in seen:
            raise ValueError(f"recursive output model {name!r} cannot be sent as a JSON schema")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _inline({**definitions[name], **siblings}, definitions, (*seen, name))
    return {key: _inline(value, definitions, seen) for key, value in node.items()}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _strict(value) for key, value in node.items() if key != "default"}
    if result.get("type") == "object" and isinstance(result.get("properties"), dict):
        result["additionalProperties"] = False
        result["required"] = list(result["properties"])
    return result


def validate_output[T: BaseModel](
    output: type[T],
    content: str | dict[str, Any],
    *,
    provider: str,
    model: str,
    usage: Usage | None = None,
    cost: float = 0.0,
) -> T:
    """Parse and validate the provider's answer; any mismatch becomes :class:`InvalidOutput`.

    The message names the failing fields but never echoes their values (they may hold ticket
    text).
    """
    try:
        if isinstance(content, str):
            return output.model_validate_json(content)
        return output.model_validate(content)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['type']}"
            for error in exc.errors()[:5]
        )
        raise InvalidOutput(
            provider,
            f"output does not match {output.__name__}: {problems}",
            model=model,
            usage=usage,
            cost=cost,
        ) from None
