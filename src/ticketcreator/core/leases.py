"""A process's lease on a rate-limit key: requests recorded in Redis at once and admitted
here one by one (how leases are sized and used: :mod:`ticketcreator.core.ratelimit`)."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ticketcreator.core.ratelimit import RateLimitResult

LEASE_S = 1.0  # a lease's requests not admitted within this time are given up
MAX_LEASE = 16
LEASED_KEYS = 10_000  # principals whose lease a process remembers


@dataclass
class Lease:
    """Requests of one principal that this process recorded in Redis and may still admit."""

    tokens: int = 0
    until: float = 0.0  # monotonic time after which the tokens are given up
    count: int = 0  # requests in the window after the lease, the lease's included
    reset_ms: int = 0
    fetched: float = -math.inf
    admitted: int = 0  # requests admitted from this lease (sizes the next)
    queue: deque[asyncio.Future[RateLimitResult]] = field(default_factory=deque, repr=False)
    serving: asyncio.Task[None] | None = field(default=None, repr=False)

    def wanted(self, now: float, waiting: int) -> int:
        """How many requests to ask for: those waiting, and half a second of requests at the
        rate this process admitted the last lease, if it is recent."""
        elapsed = now - self.fetched
        rate = self.admitted / max(elapsed, 1e-3) if elapsed < LEASE_S else 0.0
        return min(MAX_LEASE, waiting + int(rate * LEASE_S / 2))

    def renew(self, granted: int, count: int, reset_ms: int, now: float) -> None:
        self.tokens, self.count, self.reset_ms = granted, count, reset_ms
        self.until, self.fetched, self.admitted = now + LEASE_S, now, 0
