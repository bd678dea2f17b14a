"""What every HTTP provider shares: one httpx client, timeouts, retries, error mapping, secrets.

A vendor module only says how to build its request and how to read its answer; sending,
retrying with exponential backoff (timeouts, connection errors, 429 honouring ``Retry-After``,
5xx), turning vendor errors into the typed errors of :mod:`.base`, computing the cost and
validating the output happen here, identically for all of them.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, SecretStr

from ticketcreator.ai.providers.base import (
    Completion,
    CompletionRequest,
    InvalidOutput,
    ProviderError,
    ProviderFailure,
    ProviderTimeout,
    RateLimited,
    Usage,
    validate_output,
)
from ticketcreator.ai.providers.costs import call_cost
from ticketcreator.core.ai_config import ProviderConfig, StrategyConfig

Sleep = Callable[[float], Awaitable[None]]
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """``ai_strategy.max_retries`` retries after the first attempt, the delay doubling each time."""

    max_retries: int
    retry_delay: float

    @classmethod
    def from_strategy(cls, strategy: StrategyConfig) -> RetryPolicy:
        return cls(max_retries=strategy.max_retries, retry_delay=strategy.retry_delay)

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds before retry number ``retry`` (0-based); the server's Retry-After wins."""
        if retry_after is not None:
            return retry_after
        return float(self.retry_delay * 2**retry)


@dataclass(frozen=True)
class Reply:
    """A vendor answer reduced to what the base needs.

    ``problem`` is set when the vendor says the answer is unusable (a refusal, a truncation, a
    safety block); the tokens are still billed, so ``usage`` is read first.
    """

    content: str | dict[str, Any] | None
    model: str
    usage: Usage
    problem: str | None = None


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (delay-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def vendor_error_text(response: httpx.Response) -> str:
    """The message of a vendor error body, whichever documented shape it has.

    OpenAI and Gemini send ``{"error": {"message": ...}}``, Anthropic ``{"type": "error",
    "error": {"type": ..., "message": ...}}``, Ollama ``{"error": "..."}``.
    """
    try:
        body = response.json()
    except ValueError:
        return response.text
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code")
        message = str(error.get("message", ""))
        return f"{kind}: {message}" if kind else message
    return response.text


class HttpProvider(ABC):
    """A provider reached over HTTP through the shared client.

    Subclasses define the endpoint, headers, payload and how to read the reply. The API key is
    only ever turned into plain text inside :meth:`_headers`, and every error text is scrubbed
    of it before it is raised.
    """

    default_base_url: ClassVar[str]
    remote: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        client: httpx.AsyncClient,
        retry: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._name = name
        self._base_url = (config.base_url or self.default_base_url).rstrip("/")
        self._api_key: SecretStr | None = config.resolved_api_key()
        self._organization = config.organization
        self._client = client
        self._retry = retry
        self._sleep = sleep

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, base_url={self._base_url!r})"

    @abstractmethod
    def _url(self, request: CompletionRequest) -> str: ...

    @abstractmethod
    def _headers(self) -> dict[str, str]: ...

    @abstractmethod
    def _payload(self, request: CompletionRequest) -> dict[str, Any]: ...

    @abstractmethod
    def _reply(self, body: dict[str, Any], request: CompletionRequest) -> Reply: ...

    async def complete[T: BaseModel](
        self, request: CompletionRequest, output: type[T]
    ) -> Completion[T]:
        started = time.perf_counter()
        body = await self._post(request)
        try:
            reply = self._reply(body, request)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InvalidOutput(
                self._name, f"unexpected response shape ({type(exc).__name__}: {exc})"
            ) from None
        cost = call_cost(reply.usage, request.model)
        if reply.problem is not None or reply.content is None:
            raise InvalidOutput(
                self._name,
                self._scrub(reply.problem or "empty answer"),
                model=reply.model,
                usage=reply.usage,
                cost=cost,
            )
        value = validate_output(
            output,
            reply.content,
            provider=self._name,
            model=reply.model,
            usage=reply.usage,
            cost=cost,
        )
        return Completion(
            value=value,
            provider=self._name,
            model=reply.model,
            usage=reply.usage,
            cost=cost,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def _post(self, request: CompletionRequest) -> dict[str, Any]:
        """Send with retries; never sleeps or waits past ``request.deadline``."""
        loop = asyncio.get_running_loop()
        retry = 0
        while True:
            timeout = request.timeout
            if request.deadline is not None:
                timeout = min(timeout, request.deadline - loop.time())
                if timeout <= 0:
                    raise ProviderTimeout(self._name, "no time left before max_generation_time")
            try:
                return await self._send(request, timeout)
            except ProviderFailure as exc:
                if not _retryable(exc) or retry >= self._retry.max_retries:
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                delay = self._retry.delay(retry, retry_after)
                if request.deadline is not None and loop.time() + delay >= request.deadline:
                    raise
                await self._sleep(delay)
                retry += 1

    async def _send(self, request: CompletionRequest, seconds: float) -> dict[str, Any]:
        try:
            async with asyncio.timeout(seconds):
                response = await self._client.post(
                    self._url(request),
                    headers=self._headers(),
                    json=self._payload(request),
                    timeout=seconds,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderTimeout(self._name, f"no answer within {seconds:.2f}s") from None
        except httpx.TransportError as exc:
            raise ProviderError(
                self._name,
                self._scrub(f"connection failed: {type(exc).__name__}: {exc}"),
                retryable=True,
            ) from None
        status = response.status_code
        if status == 429:
            raise RateLimited(
                self._name,
                self._scrub(f"HTTP 429: {vendor_error_text(response)}"),
                retry_after=parse_retry_after(response.headers),
            )
        if status >= 400:
            raise ProviderError(
                self._name,
                self._scrub(f"HTTP {status}: {vendor_error_text(response)}"),
                status=status,
                retryable=status >= 500 or status == 408,
            )
        try:
            body = response.json()
        except ValueError:
            raise InvalidOutput(self._name, "response body is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidOutput(self._name, "response body is not a JSON object")
        return body

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key is not None else None

    def _scrub(self, text: str) -> str:
        """Error text safe for logs and decision records: no API key, bounded length."""
        secret = self._secret()
        if secret:
            text = text.replace(secret, "[REDACTED]")
        return text[:_MAX_ERROR_CHARS]


def _retryable(exc: ProviderFailure) -> bool:
    if isinstance(exc, ProviderTimeout | RateLimited):
        return True
    return isinstance(exc, ProviderError) and exc.retryable
