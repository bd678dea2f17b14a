from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import httpx
import pytest
import redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import RedisServer, Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import consumer, events, outbox
from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
from ticketcreator.core.tasks import QUEUES

PROBE = "tests.support.probe_tasks.record"


async def _emit(topic: str = "probe.ping") -> uuid.UUID:
    async with session_factory()() as db:
        event_id = events.emit(db, topic, {"hello": "world"})
        await commit(db)
        return event_id


async def _row(event_id: uuid.UUID) -> OutboxEvent:
    async with session_factory()() as db:
        return (await db.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id))).one()


async def _done(event_id: uuid.UUID) -> bool:
    async with session_factory()() as db:
        found = await db.get(ProcessedEvent, (event_id, PROBE))
    return found is not None and found.state == "done"


async def _wait_processed(event_id: uuid.UUID) -> None:
    await wait_for(lambda: _done(event_id), 60, f"the worker to process event {event_id}")


async def test_committed_event_reaches_the_worker(celery_worker: Worker) -> None:
    event_id = await _emit()
    await _wait_processed(event_id)
    row = await _row(event_id)
    assert row.dispatched_at is not None
    assert row.attempts == 1


async def test_rolled_back_change_emits_nothing(session: AsyncSession) -> None:
    event_id = events.emit(session, "probe.ping", {})
    await session.execute(select(1))  # written before the statement
    await session.rollback()
    async with session_factory()() as db:
        assert await db.get(OutboxEvent, event_id) is None


async def test_event_written_while_redis_is_down_is_delivered_after_it_returns(
    celery_worker: Worker, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        event_id = await _emit()
        pending = await _row(event_id)
        assert pending.last_error
        assert await events.deliver() == 0
        async with session_factory()() as db:
            delivery = await db.get(ProcessedEvent, (event_id, PROBE))
        assert delivery is not None
        assert (delivery.state, delivery.sends, delivery.attempts) == ("pending", 0, 0)
        started = time.monotonic()
        second = await _emit()  # no request waits on the broker that just failed
        assert time.monotonic() - started < 1.5
    finally:
        redis_server.start()
    deadline = time.monotonic() + 30
    while (await _row(event_id)).last_error is not None:
        assert time.monotonic() < deadline, "relay never reached the restarted broker"
        await events.deliver()
        await asyncio.sleep(0.2)
    await _wait_processed(event_id)
    await _wait_processed(second)


async def test_redelivered_event_is_handled_once(redis_server: RedisServer, database: str) -> None:
    """Copies of a delivery run the subscriber once; an older hand-over is dropped."""
    calls: list[str] = []

    async def work(db: AsyncSession, message: dict[str, object]) -> None:
        calls.append(str(message["delivery"]))

    event_id = await _emit()  # handed to the broker; no worker consumes it here
    event = await _row(event_id)
    first = {**outbox.message_of(event), "delivery": 1}
    await consumer.handle(first, PROBE, "default", work)
    await consumer.handle(first, PROBE, "default", work)
    assert calls == ["1"]
    async with session_factory()() as db:
        delivery = await db.get(ProcessedEvent, (event_id, PROBE))
    assert delivery is not None
    assert (delivery.state, delivery.attempts, delivery.sends) == ("done", 1, 1)

    stale = await _emit()
    async with session_factory()() as db:
        await db.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == stale)
            .values(sends=2)  # handed over again since the copy below was sent
        )
        await db.commit()
    await consumer.handle(
        {**outbox.message_of(await _row(stale)), "delivery": 1}, PROBE, "default", work
    )
    assert calls == ["1"]


async def test_relay_task_runs_in_the_worker(
    celery_worker: Worker, redis_server: RedisServer
) -> None:
    from ticketcreator.core.tasks import celery_app

    async with session_factory()() as db:
        event = outbox.OutboxEvent(
            id=uuid.uuid4(),
            topic="probe.ping",
            payload={},
            attempts=0,
            created_at=outbox.utcnow(),
        )
        db.add(event)  # written without emit(): only the relay can deliver it
        await db.commit()
    celery_app.send_task("outbox.relay", queue="default")
    await _wait_processed(event.id)


async def test_purge_drops_old_events_and_done_deliveries_but_keeps_dead_ones(
    database: str,
) -> None:
    from datetime import timedelta

    long_ago = outbox.utcnow() - timedelta(days=10)

    def event(dispatched: bool) -> OutboxEvent:
        return outbox.OutboxEvent(
            id=uuid.uuid4(),
            topic="x",
            payload={},
            attempts=1,
            created_at=long_ago,
            dispatched_at=long_ago if dispatched else None,
        )

    def delivery(event: OutboxEvent, state: str, at: datetime) -> ProcessedEvent:
        return ProcessedEvent(
            event_id=event.id, handler="h", state=state, created_at=at, processed_at=at
        )

    old, dead, fresh, undispatched = event(True), event(True), event(True), event(False)
    fresh.dispatched_at = outbox.utcnow()
    async with session_factory()() as db:
        db.add_all([old, dead, fresh, undispatched])
        await db.flush()
        db.add_all(
            [
                delivery(old, "done", long_ago),
                delivery(dead, "dead", long_ago),
                delivery(fresh, "done", outbox.utcnow()),
            ]
        )
        await db.commit()
    assert await outbox.purge_delivered(timedelta(days=7)) == 1
    async with session_factory()() as db:
        assert await db.get(OutboxEvent, old.id) is None
        assert await db.get(ProcessedEvent, (old.id, "h")) is None
        kept = [dead.id, fresh.id, undispatched.id]
        assert all([await db.get(OutboxEvent, event_id) for event_id in kept])
        assert await db.get(ProcessedEvent, (dead.id, "h")) is not None  # replayable
        assert await db.get(ProcessedEvent, (fresh.id, "h")) is not None


async def test_a_failed_hand_over_after_commit_leaves_the_event_to_the_relay(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def exhausted(*_: object, **__: object) -> int:
        raise TimeoutError("QueuePool limit reached")

    monkeypatch.setattr(outbox, "deliver", exhausted)
    event_id = await _emit()  # the commit succeeds; the caller sees no error
    assert (await _row(event_id)).dispatched_at is None


async def test_a_request_hands_its_events_to_a_worker_in_one_message(
    celery_worker: Worker,
    redis_server: RedisServer,
    client: httpx.AsyncClient,
    session: AsyncSession,
) -> None:
    """The request only publishes the new event's id; a worker records a delivery per
    subscriber, hands each over, and they run."""
    owner = await create_member(session, role=Role.OWNER)
    celery_worker.consume(False)
    broker = redis.Redis(port=redis_server.port, db=1)
    try:
        created = await client.post("/v1/tickets", json={"title": "x"}, headers=owner.headers)
        assert created.status_code == 201, created.text

        async def queued() -> int:
            return int(broker.llen("default"))

        await wait_for(queued, 10, "the hand-over")
        assert {queue: broker.llen(queue) for queue in QUEUES} == {
            "default": 1,
            "ai": 0,
            "media": 0,
            "integrations": 0,
        }
    finally:
        broker.close()
    async with session_factory()() as db:
        event = await db.scalar(select(OutboxEvent).where(OutboxEvent.topic == "ticket.created"))
    assert event is not None
    assert event.dispatched_at is None

    celery_worker.consume(True)
    subscribers = {sub.task_name for sub in events.subscribers.for_topic("ticket.created")}

    async def ran() -> bool:
        async with session_factory()() as db:
            query = select(ProcessedEvent).where(ProcessedEvent.event_id == event.id)
            deliveries = (await db.scalars(query)).all()
        return {d.handler for d in deliveries if d.state == "done"} == subscribers

    await wait_for(ran, 60, "the deliveries of the event")
