"""One HTTP client base for every vendor: timeouts, retries, typed errors, rate-limit budget.

Requests that are safe to repeat (GET, PUT, PATCH, DELETE) are retried here on timeouts,
connection failures and 5xx with exponential backoff; a POST is never repeated blindly (it
could create a second issue): its failure goes back to the sync engine, which looks up what
the first attempt left before trying again.

Rate limits are a per-installation budget in Redis shared by every worker: a window of
``integrations.requests_per_minute`` calls, plus a "wait until" time learnt from the vendor
(``Retry-After`` on 429/403, or ``X-RateLimit-Remaining: 0`` with its reset time). A call
that would go over the budget is not sent: :class:`RateLimited` tells the caller how long to
wait, and the sync engine re-queues the work with that countdown instead of failing it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from redis.exceptions import RedisError

from ticketcreator.ai.providers.http import parse_retry_after
from ticketcreator.core.config import get_settings
from ticketcreator.core.ratelimit import get_limiter

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_WAIT_KEY = "integrations:wait:"
_ERROR_CHARS = 300


class VendorError(Exception):
    """A vendor call that did not succeed; ``retriable`` says whether trying later may help."""

    retriable = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthFailed(VendorError):
    """401/403: the credentials are wrong, expired or lack a permission."""


class NotFoundOnVendor(VendorError):
    """404: the repository, project or issue does not exist (or is not visible)."""


class GoneOnVendor(VendorError):
    """410: the issue was deleted, or the feature is switched off."""


class Rejected(VendorError):
    """400/422: the vendor refused the request's content."""


class VendorUnavailable(VendorError):
    """5xx, a timeout or no connection: try again later."""

    retriable = True


class RateLimited(VendorError):
    """Over the vendor's or our budget: wait ``retry_after`` seconds (work is re-queued)."""

    retriable = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


def _excerpt(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        text = ""
    return text[:_ERROR_CHARS]


class Budget:
    """The installation's rate-limit budget in Redis (fails open when Redis is down)."""

    def __init__(self, installation_id: uuid.UUID, per_minute: int) -> None:
        self.key = f"integration:{installation_id}"
        self.per_minute = per_minute

    async def acquire(self) -> None:
        """Count one call, or raise :class:`RateLimited` with the time to wait."""
        limiter = get_limiter()
        try:
            until = await limiter.client.get(_WAIT_KEY + self.key)
            wait = float(until) - time.time() if until is not None else 0.0
            if wait > 0:
                raise RateLimited("the vendor asked to wait", retry_after=wait)
            result = await limiter.hit(self.key, self.per_minute, 60)
        except RedisError:
            log.warning("rate-limit budget unavailable; calling without it")
            return
        if not result.allowed:
            raise RateLimited("the installation's request budget is used up", result.reset_s)

    async def wait_until(self, seconds: float) -> None:
        """Hold every call of this installation for ``seconds`` (the vendor said so)."""
        until = time.time() + seconds
        try:
            await get_limiter().client.set(
                _WAIT_KEY + self.key, f"{until:.3f}", px=max(1, math.ceil(seconds * 1000))
            )
        except RedisError:
            log.warning("could not record the vendor's rate-limit wait")


def vendor_wait(response: httpx.Response) -> float | None:
    """Seconds the vendor asks us to wait, from its rate-limit headers; None if it does not."""
    headers = response.headers
    retry_after = parse_retry_after(headers)
    limited = response.status_code == 429 or (
        response.status_code == 403 and headers.get("x-ratelimit-remaining") == "0"
    )
    if limited:
        if retry_after is not None:
            return retry_after
        return _until_reset(headers) or get_settings().integrations.default_rate_limit_wait_s
    if headers.get("x-ratelimit-remaining") == "0":
        return _until_reset(headers)
    return None


def _until_reset(headers: Mapping[str, str]) -> float | None:
    reset = headers.get("x-ratelimit-reset")
    if reset is None:
        return None
    try:
        return max(0.0, float(reset) - time.time())
    except ValueError:
        return None


class VendorClient:
    """httpx with the installation's base URL, auth headers, timeouts, retries and budget."""

    def __init__(
        self,
        base_url: str,
        budget: Budget,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        cfg = get_settings().integrations
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.retries = cfg.http_retries
        self.backoff_s = cfg.http_backoff_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.http_timeout_s, connect=cfg.http_connect_timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        """Send one request (repeated only when safe); raise a :class:`VendorError` unless the
        answer's status is in ``expect``."""
        attempts = 1 + (self.retries if method.upper() in _IDEMPOTENT else 0)
        for attempt in range(attempts):
            await self.budget.acquire()
            try:
                response = await self._client.request(
                    method,
                    self.url(path),
                    headers=headers,
                    json=json,
                    params=params,
                    files=files,
                    data=data,
                )
            except httpx.TimeoutException as exc:
                error: VendorError = VendorUnavailable(f"{method} {path}: timed out ({exc})")
            except httpx.TransportError as exc:
                error = VendorUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}")
            else:
                wait = vendor_wait(response)
                if wait is not None:
                    await self.budget.wait_until(wait)
                if response.status_code in expect:
                    return response
                error = self._error(method, path, response, wait)
            if not isinstance(error, VendorUnavailable) or attempt == attempts - 1:
                raise error
            await asyncio.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response, wait: float | None) -> VendorError:
        status = response.status_code
        message = f"{method} {path}: {status} {_excerpt(response)}"
        if wait is not None and status in (403, 429):
            return RateLimited(message, retry_after=wait)
        if status in (401, 403):
            return AuthFailed(message, status)
        if status == 404:
            return NotFoundOnVendor(message, status)
        if status == 410:
            return GoneOnVendor(message, status)
        if status >= 500 or status == 408:
            return VendorUnavailable(message, status)
        return Rejected(message, status)
