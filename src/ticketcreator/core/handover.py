"""Handing committed events over after the commit, coalesced per process.

What the transactions of one process committed while a hand-over ran is handed over next,
together, by one task per event loop: under load a transaction's events cost a share of a
batch, not a round of their own; alone, they are handed over at once. A request's events go
to a worker as one message (:func:`to_worker`), which fans them out and hands each delivery
over; a task's are fanned out and handed over where it runs. Events whose hand-over is lost
(the broker is down, the process dies) are left undispatched for the relay.
"""

from __future__ import annotations

import asyncio
import math
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ticketcreator.core import outbox
from ticketcreator.core.tasks import celery_app

Deliver = Callable[[list[uuid.UUID]], Awaitable[object]]
HAND_OVER = "outbox.hand_over"  # the worker's task: fan out these events, hand them over


async def to_worker(event_ids: list[uuid.UUID]) -> None:
    """Ask a worker, in one message, to fan these events out and hand their deliveries over;
    while the broker is failing the relay does it."""
    if outbox.broker_down():
        return
    try:
        await asyncio.to_thread(
            celery_app.send_task,
            HAND_OVER,
            args=[[str(event_id) for event_id in event_ids]],
            queue="default",
            retry=False,
        )
    except Exception:
        outbox.broker_failed()
        raise


@dataclass
class _Queue:
    waiting: list[tuple[list[uuid.UUID], asyncio.Future[None]]] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None
    last_started: float = -math.inf  # the loop's clock when the last batch was handed over


class Coalescer:
    """Runs ``deliver`` on the event ids submitted meanwhile, one batch at a time per loop.

    With ``spacing``, a batch starts at least that many seconds after the one before: alone,
    events still go at once; under load, they wait up to ``spacing`` and go together.
    """

    def __init__(self, deliver: Deliver, spacing: Callable[[], float] = lambda: 0.0) -> None:
        self._deliver = deliver
        self._spacing = spacing
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, event_ids: list[uuid.UUID]) -> None:
        """Hand these events over in the next batch; returns when it is done (raises its error)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        done: asyncio.Future[None] = loop.create_future()
        queue.waiting.append((event_ids, done))
        if queue.runner is None:
            queue.runner = loop.create_task(self._run(queue))
        await done

    async def _run(self, queue: _Queue) -> None:
        try:
            loop = asyncio.get_running_loop()
            while queue.waiting:
                wait = queue.last_started + self._spacing() - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                queue.last_started = loop.time()
                batch, queue.waiting = queue.waiting, []
                try:
                    await self._deliver([event_id for ids, _ in batch for event_id in ids])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            queue.runner = None
