"""An outbox subscriber loaded only by the test worker: it records what it received."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.worker import subscriber


@subscriber("probe.ping")
async def record(session: AsyncSession, message: dict[str, Any]) -> None:
    """Nothing to do: the worker's deduplication row is the observable delivery."""
