"""The outbox relay inside a test's event loop, as beat runs it in production: events whose
time has come (a coalescing window's end) are handed to the worker."""

from __future__ import annotations

import asyncio

from ticketcreator.core import events


async def relay_outbox(interval: float = 0.25) -> None:
    """Hand due events over every ``interval`` seconds until cancelled."""
    while True:
        await events.deliver()
        await asyncio.sleep(interval)
