"""Deliveries survive faults: failing subscribers, a broker that loses its data, killed
workers, copies of a running task, attachments stuck in processing.

A worker of this module's own runs with short retry and redelivery settings (``FAST``); the
test process, which plays the relay (beat does not run in tests), uses the same ones.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import RedisServer, Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.attachments.models import Attachment, ProcessingStatus
from ticketcreator.cli import app as cli
from ticketcreator.core import consumer, events, outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory, utcnow
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent

FRAGILE = "tests.support.probe_tasks.fragile"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
FAST = {
    "TC_OUTBOX__REDELIVER_AFTER_S": "2",
    "TC_OUTBOX__RETRY_BACKOFF_S": "0.2",
    "TC_CELERY__DEFAULT_MAX_RETRIES": "2",  # three runs, then dead
    "TC_CELERY__RETRY_BACKOFF_MAX_S": "1",
    "TC_OUTBOX__LEASE_S": "1",  # renewed three times a second while a run lasts
}


@pytest.fixture(scope="module")
def fast_worker(database: str, redis_server: RedisServer) -> Iterator[Worker]:
    env = {key: value for key, value in os.environ.items() if key.startswith("TC_")}
    worker = Worker({**env, **FAST}, label="faults")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process relays with the worker's settings."""
    settings = get_settings()
    changed = settings.model_copy(
        update={
            "outbox": settings.outbox.model_copy(
                update={"redeliver_after_s": 2.0, "retry_backoff_s": 0.2, "lease_s": 1.0}
            ),
            "celery": settings.celery.model_copy(
                update={"default_max_retries": 2, "retry_backoff_max_s": 1}
            ),
        }
    )
    monkeypatch.setattr(outbox, "get_settings", lambda: changed)


async def _emit(payload: dict[str, Any], organization_id: uuid.UUID | None = None) -> uuid.UUID:
    async with session_factory()() as db:
        event_id = events.emit(db, "probe.fragile", payload, organization_id=organization_id)
        await commit(db)
        return event_id


async def _delivery(event_id: uuid.UUID) -> ProcessedEvent:
    async with session_factory()() as db:
        found = await db.get(ProcessedEvent, (event_id, FRAGILE))
    assert found is not None
    return found


async def _effects(event_id: uuid.UUID) -> int:
    async with session_factory()() as db:
        event = await db.get(OutboxEvent, event_id)
    assert event is not None
    return int(event.payload.get("effects", 0))


def _runs(redis_server: RedisServer, event_id: uuid.UUID) -> int:
    client = redis.Redis(port=redis_server.port, db=0)
    try:
        return int(client.get(f"probe:runs:{event_id}") or 0)
    finally:
        client.close()


async def _relay_until(
    probe: Callable[[], Awaitable[bool]], timeout: float = 90.0, what: str = "the delivery"
) -> None:
    """Run the relay (as beat would, more often) until ``probe`` holds."""
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout}s"
        await events.deliver()
        await asyncio.sleep(0.3)


async def _invoke(*args: str) -> Result:
    """A CLI command (its own event loop, in a thread)."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def _state_is(event_id: uuid.UUID, state: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return (await _delivery(event_id)).state == state

    return probe


async def test_outbox_commands_list_and_replay_dead_deliveries(database: str) -> None:
    event_id = await _emit({})
    await events.deliver()
    async with session_factory()() as db:
        await db.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == event_id)
            .values(state="dead", attempts=6, last_error="ClientError: NoSuchBucket")
        )
        await db.commit()
    listed = await _invoke("outbox", "list")
    assert listed.exit_code == 0, listed.output
    assert "dead=1" in listed.output
    assert FRAGILE in listed.output
    assert "ClientError: NoSuchBucket" in listed.output
    delivery = await _delivery(event_id)

    assert (await _invoke("outbox", "replay")).exit_code == 2
    assert (await _invoke("outbox", "replay", "not-an-id")).exit_code == 2
    assert (await _invoke("outbox", "list", "--state", "lost")).exit_code == 2
    replayed = await _invoke("outbox", "replay", str(delivery.id))
    assert replayed.exit_code == 0, replayed.output
    assert "1 delivery(ies) queued again" in replayed.output
    pending = await _delivery(event_id)
    assert (pending.state, pending.attempts) == ("pending", 0)
    again = await _invoke("outbox", "replay", str(delivery.id))
    assert again.exit_code == 2
    assert "pending" in again.output

    async with session_factory()() as db:
        await db.execute(update(ProcessedEvent).values(state="dead"))
        await db.commit()
    everything = await _invoke("outbox", "replay", "--all-dead")
    assert everything.exit_code == 0, everything.output
    async with session_factory()() as db:
        states = (await db.scalars(select(ProcessedEvent.state))).all()
    assert states == ["pending"]


async def test_a_running_delivery_holds_a_lease_not_a_lock_nor_a_transaction(
    database: str,
) -> None:
    """While a subscriber waits (on a vendor, say), its delivery is claimed by a lease: no
    connection sits idle in a transaction and the row is not locked. A second claim is refused
    while the lease holds; once it expired another run claims it, and the first run's late
    completion is discarded with its writes."""
    subscriber = "probe.lease"
    async with session_factory()() as db:
        event = OutboxEvent(id=uuid.uuid4(), topic="probe.lease", payload={}, attempts=0)
        db.add(event)
        db.add(ProcessedEvent(event_id=event.id, handler=subscriber, sends=1, attempts=0))
        await db.commit()
    message = {**outbox.message_of(event), "delivery": 1}
    release = asyncio.Event()
    ran: list[str] = []

    def run(name: str) -> Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]:
        async def work(db: AsyncSession, received: dict[str, Any]) -> None:
            ran.append(name)
            if name == "first":
                await release.wait()
            await db.execute(
                text(
                    "UPDATE outbox_event SET payload = payload || jsonb_build_object('by', "
                    "CAST(:name AS text), 'effects', COALESCE((payload->>'effects')::int, 0) + 1)"
                    " WHERE id = :id"
                ),
                {"name": name, "id": received["id"]},
            )

        return work

    first = asyncio.create_task(consumer.handle(message, subscriber, "default", run("first")))

    async def started() -> bool:
        return "first" in ran

    await wait_for(started, timeout=10, what="the first run")
    async with session_factory()() as db:
        idle = await db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
        assert idle == 0
        locked = await db.execute(
            select(ProcessedEvent)
            .where(ProcessedEvent.event_id == event.id)
            .with_for_update(nowait=True)
        )
        claimed = locked.scalar_one()
        assert (claimed.attempts, claimed.state) == (1, "pending")
        assert claimed.lease is not None
        assert claimed.leased_until is not None
        assert claimed.leased_until > utcnow()
        await db.rollback()

    await consumer.handle(message, subscriber, "default", run("second"))
    assert ran == ["first"]  # refused: the lease holds

    async with session_factory()() as db:
        await db.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == event.id)
            .values(leased_until=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    await consumer.handle(message, subscriber, "default", run("third"))
    assert ran == ["first", "third"]
    release.set()
    await first  # its completion comes too late

    async with session_factory()() as db:
        done = await db.get(ProcessedEvent, (event.id, subscriber))
        stored = await db.get(OutboxEvent, event.id)
    assert done is not None
    assert stored is not None
    assert (done.state, done.attempts, done.lease, done.leased_until) == ("done", 2, None, None)
    assert (stored.payload["by"], stored.payload["effects"]) == ("third", 1)


def test_no_task_outlives_the_broker_visibility_timeout() -> None:
    from ticketcreator.core.tasks import celery_app

    limit = celery_app.conf.task_time_limit
    assert limit == get_settings().celery.task_time_limit_s
    assert celery_app.conf.broker_transport_options["visibility_timeout"] > limit


async def test_failing_subscriber_is_retried_dead_lettered_listed_and_replayed(
    fast_worker: Worker, fast: None, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    reporter = await create_member(session, owner.organization, Role.REPORTER)
    stranger = await create_member(session, role=Role.OWNER)
    event_id = await _emit({"fail_times": 3}, owner.org_id)

    await _relay_until(_state_is(event_id, "dead"), what="dead-lettering")
    dead = await _delivery(event_id)
    assert dead.attempts == 3
    assert dead.last_error is not None
    assert dead.last_error.startswith("OSError: image file is truncated (run 3)")
    assert dead.processed_at is not None
    assert await _effects(event_id) == 0
    log = fast_worker.log.read_text()
    assert "event delivery failed; will retry" in log
    assert "event delivery dead-lettered" in log

    listed = await client.get("/v1/event-deliveries", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["counts"] == {"pending": 0, "done": 0, "dead": 1}
    [item] = body["items"]
    assert (item["id"], item["event_id"]) == (str(dead.id), str(event_id))
    assert (item["topic"], item["subscriber"]) == ("probe.fragile", FRAGILE)
    assert (item["state"], item["attempts"], item["error_type"]) == ("dead", 3, "OSError")
    assert "truncated" not in listed.text  # the error's text stays with the operators

    refused = await client.get("/v1/event-deliveries", headers=reporter.headers)
    assert refused.status_code == 403
    foreign = await client.get("/v1/event-deliveries", headers=stranger.headers)
    assert foreign.json() == {"counts": {"pending": 0, "done": 0, "dead": 0}, "items": []}
    url = f"/v1/event-deliveries/{dead.id}/replay"
    assert (await client.post(url, headers=stranger.headers)).status_code == 404

    replayed = await client.post(url, headers=owner.headers)
    assert replayed.status_code == 202, replayed.text
    assert (replayed.json()["state"], replayed.json()["attempts"]) == ("pending", 0)
    again = await client.post(url, headers=owner.headers)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    await _relay_until(_state_is(event_id, "done"), what="the replayed delivery")
    assert await _effects(event_id) == 1
    assert (await _delivery(event_id)).last_error is None


async def test_replaying_every_dead_delivery_of_the_organization(
    fast_worker: Worker, fast: None, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    other = await create_member(session, role=Role.OWNER)
    mine, theirs = await _emit({"fail_times": 3}, owner.org_id), await _emit({}, other.org_id)
    await _relay_until(_state_is(mine, "dead"))
    await _relay_until(_state_is(theirs, "done"))
    response = await client.post("/v1/event-deliveries/replay", headers=owner.headers)
    assert response.json() == {"replayed": 1}
    await _relay_until(_state_is(mine, "done"))
    assert (await _effects(mine), await _effects(theirs)) == (1, 1)


async def test_a_task_that_kills_its_worker_is_dead_lettered_after_the_last_run(
    fast_worker: Worker, fast: None, redis_server: RedisServer
) -> None:
    """``task_reject_on_worker_lost`` hands the message out again each time; the run count
    in the database ends it."""
    event_id = await _emit({"die": True})
    await _relay_until(_state_is(event_id, "dead"), timeout=120, what="dead-lettering")
    dead = await _delivery(event_id)
    assert dead.attempts == 3
    assert dead.last_error is not None
    assert dead.last_error.startswith("WorkerLost: 3 runs")
    assert _runs(redis_server, event_id) == 3
    await events.deliver()
    await asyncio.sleep(2)
    assert _runs(redis_server, event_id) == 3  # never run again


async def test_a_plain_task_that_kills_its_worker_is_dropped_after_the_last_run(
    fast_worker: Worker, redis_server: RedisServer
) -> None:
    from ticketcreator.core.tasks import celery_app

    counter = f"probe:die:{uuid.uuid4()}"
    celery_app.send_task("probe.die", args=[counter], queue="default")
    deadline = time.monotonic() + 120
    while "task dead-lettered" not in fast_worker.log.read_text():
        assert time.monotonic() < deadline, "the task was never given up"
        await asyncio.sleep(0.5)
    client = redis.Redis(port=redis_server.port, db=0)
    try:
        assert int(client.get(counter) or 0) == 3
    finally:
        client.close()


async def test_broker_losing_its_data_after_the_hand_over_does_not_lose_the_event(
    fast_worker: Worker, fast: None, redis_server: RedisServer
) -> None:
    fast_worker.consume(False)
    event_id = await _emit({})
    broker = redis.Redis(port=redis_server.port, db=1)
    try:
        assert broker.llen("default") == 1  # handed over
        broker.flushdb()  # FLUSHALL of the broker's database: the message is gone
    finally:
        broker.close()
    fast_worker.consume(True)
    await asyncio.sleep(1)
    assert (await _delivery(event_id)).state == "pending"
    await _relay_until(_state_is(event_id, "done"), what="the re-sent delivery")
    delivery = await _delivery(event_id)
    assert (delivery.sends, delivery.attempts) == (2, 1)
    assert await _effects(event_id) == 1
    assert _runs(redis_server, event_id) == 1


async def test_worker_killed_mid_task_the_work_is_done_once(
    fast_worker: Worker, fast: None, redis_server: RedisServer
) -> None:
    event_id = await _emit({"sleep": 3})
    deadline = time.monotonic() + 60
    while _runs(redis_server, event_id) == 0:
        assert time.monotonic() < deadline, "the task never started"
        await asyncio.sleep(0.1)
    fast_worker.kill()  # SIGKILL, worker and pool: the message stays unacknowledged
    fast_worker.start()
    await _relay_until(_state_is(event_id, "done"), what="the delivery of the killed worker")
    delivery = await _delivery(event_id)
    assert delivery.attempts == 2
    assert _runs(redis_server, event_id) == 2
    assert await _effects(event_id) == 1


async def test_a_copy_of_a_running_task_does_not_run_it_again(
    fast_worker: Worker, fast: None, redis_server: RedisServer
) -> None:
    """As when the broker hands out a message again while its task still runs (visibility
    timeout): the running task holds its delivery, the copy finds it taken."""
    event_id = await _emit({"sleep": 3})
    while _runs(redis_server, event_id) == 0:
        await asyncio.sleep(0.1)
    async with session_factory()() as db:
        event = await db.get(OutboxEvent, event_id)
        assert event is not None
        message = {**outbox.message_of(event), "delivery": 1}
    subscription = outbox.Subscription("probe.fragile", FRAGILE, "default")
    outbox.publish(subscription, message)
    await _relay_until(_state_is(event_id, "done"))
    await asyncio.sleep(2)
    assert _runs(redis_server, event_id) == 1
    assert await _effects(event_id) == 1


async def test_sweeper_requeues_an_attachment_stuck_in_processing(
    fast_worker: Worker,
    fast: None,
    client: httpx.AsyncClient,
    session: AsyncSession,
    redis_server: RedisServer,
) -> None:
    from ticketcreator.attachments import processing
    from ticketcreator.core.tasks import celery_app

    owner = await create_member(session, role=Role.OWNER)
    fast_worker.consume(False)
    files = {"file": ("shot.png", PNG, "image/png")}
    created = await client.post("/v1/attachments", headers=owner.headers, files=files)
    assert created.status_code == 201, created.text
    attachment_id = uuid.UUID(created.json()["id"])
    async with session_factory()() as db:  # as left by a lost event: processing, long ago
        await db.execute(
            update(Attachment)
            .where(Attachment.id == attachment_id)
            .values(
                processing_status=ProcessingStatus.PROCESSING,
                updated_at=utcnow() - timedelta(hours=1),
            )
        )
        await db.execute(update(ProcessedEvent).values(state="dead"))
        await db.commit()
    redis.Redis(port=redis_server.port, db=1).delete("default", "media")
    fast_worker.consume(True)

    celery_app.send_task("attachments.requeue_stuck", queue="default")

    async def ready() -> bool:
        async with session_factory()() as db:
            found = await db.get(Attachment, attachment_id)
        assert found is not None
        return found.processing_status == ProcessingStatus.READY

    await _relay_until(ready, what="processing of the stuck attachment")
    async with session_factory()() as db:
        attachment = await db.get(Attachment, attachment_id)
        assert attachment is not None
        assert attachment.processing_requeues == 1
        assert "thumbnail" in attachment.derivatives
        # Not again once ``attachments_max_requeues`` is used up.
        attachment.processing_status = ProcessingStatus.PROCESSING
        attachment.processing_requeues = get_settings().outbox.attachments_max_requeues
        attachment.updated_at = utcnow() - timedelta(hours=1)
        await db.commit()
    async with session_factory()() as db:
        assert await processing.requeue_stuck(db) == 0
