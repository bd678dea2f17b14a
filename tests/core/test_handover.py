"""Hand-overs after commit: coalesced per event loop, and spaced under load."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from ticketcreator.core.handover import Coalescer


class Recorder:
    """Records when each batch was handed over, and what it held."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[uuid.UUID]]] = []

    async def __call__(self, event_ids: list[uuid.UUID]) -> None:
        self.batches.append((asyncio.get_running_loop().time(), event_ids))
        await asyncio.sleep(0.001)


async def test_events_alone_are_handed_over_at_once() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, spacing=lambda: 0.5)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await coalescer.submit([uuid.uuid4()])

    assert len(recorder.batches) == 1
    assert recorder.batches[0][0] - started < 0.1


async def test_under_load_batches_are_spaced_and_carry_every_event() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, spacing=lambda: 0.05)
    events = [[uuid.uuid4()] for _ in range(40)]

    async def commit(ids: list[uuid.UUID], delay: float) -> None:
        await asyncio.sleep(delay)
        await coalescer.submit(ids)

    await asyncio.gather(*(commit(ids, 0.004 * n) for n, ids in enumerate(events)))

    times = [at for at, _ in recorder.batches]
    assert all(later - earlier >= 0.049 for earlier, later in itertools.pairwise(times))
    assert len(recorder.batches) <= 5  # 40 commits over 0.16 s: one batch per 0.05 s
    handed = [event_id for _, ids in recorder.batches for event_id in ids]
    assert sorted(handed) == sorted(ids[0] for ids in events)
