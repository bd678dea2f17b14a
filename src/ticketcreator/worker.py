"""The Celery application: queues, reliability settings, beat schedule, outbox subscribers.

Queues: ``default`` (outbox relay, housekeeping), ``ai`` (triage, training), ``media``
(probing, transcription, OCR), ``integrations`` (vendor sync, notifications). Tasks are
acknowledged after they finish (``acks_late``) and re-queued if a worker dies, so every task
is written to be idempotent. Messages are JSON only.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from celery import Celery, Task, signals
from kombu import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, dispose_engine, session_factory
from ticketcreator.core.logging import configure_logging
from ticketcreator.core.tasks import run_async

QUEUES = ("default", "ai", "media", "integrations")

# The product's task modules; imported at the end of this module so the worker registers
# their tasks and the outbox knows their subscribers.
TASK_MODULES = (
    "ticketcreator.tickets.tasks",
    "ticketcreator.attachments.tasks",
    "ticketcreator.uploads.tasks",
    "ticketcreator.ai.triage.tasks",
    "ticketcreator.transcripts.tasks",
    "ticketcreator.accounts.tasks",
    "ticketcreator.realtime.tasks",
    "ticketcreator.notifications.tasks",
)

log = logging.getLogger(__name__)


class RetriableError(Exception):
    """A passing failure (vendor down, lock busy): the task is retried with backoff."""

    def __init__(self, message: str, defer_seconds: float | None = None) -> None:
        super().__init__(message)
        self.defer_seconds = defer_seconds


def _make_app() -> Celery:
    settings = get_settings()
    app = Celery("ticketcreator")
    app.conf.update(
        broker_url=settings.celery.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": 3600,
            "socket_connect_timeout": settings.celery.publish_timeout_s,
            "socket_timeout": settings.celery.publish_timeout_s,
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.celery.worker_concurrency,
        worker_hijack_root_logger=False,
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        task_create_missing_queues=False,
        timezone="UTC",
        beat_schedule={
            "outbox-relay": {
                "task": "outbox.relay",
                "schedule": timedelta(seconds=settings.outbox.relay_interval_s),
                "options": {"queue": "default", "expires": settings.outbox.relay_interval_s},
            },
            "outbox-purge": {
                "task": "outbox.purge",
                "schedule": timedelta(hours=1),
                "options": {"queue": "default"},
            },
            "ai-train-due": {
                "task": "ai.train_due",
                "schedule": timedelta(hours=1),
                "options": {"queue": "ai", "expires": 3600},
            },
            "tickets-purge-idempotency-keys": {
                "task": "tickets.purge_idempotency_keys",
                "schedule": timedelta(hours=1),
                "options": {"queue": "default", "expires": 3600},
            },
            "webhooks-retry-due": {
                "task": "webhooks.retry_due",
                "schedule": timedelta(seconds=settings.webhooks.retry_sweep_interval_s),
                "options": {
                    "queue": "integrations",
                    "expires": settings.webhooks.retry_sweep_interval_s,
                },
            },
            "uploads-expire": {
                "task": "uploads.expire",
                "schedule": timedelta(seconds=settings.uploads.expire_interval_s),
                "options": {"queue": "default"},
            },
        },
    )
    return app


celery_app = _make_app()


class BaseTask(Task):  # type: ignore[misc]
    """Late ack, retry with exponential backoff and jitter on :class:`RetriableError`."""

    acks_late = True
    autoretry_for = (RetriableError,)
    retry_backoff = True
    retry_backoff_max = get_settings().celery.retry_backoff_max_s
    retry_jitter = True
    max_retries = get_settings().celery.default_max_retries


celery_app.Task = BaseTask


class CeleryPublisher:
    """Publishes outbox deliveries as Celery tasks; fails fast when the broker is down."""

    def publish(self, subscription: outbox.Subscription, message: dict[str, Any]) -> None:
        celery_app.send_task(
            subscription.task_name,
            args=[message],
            queue=subscription.queue,
            task_id=f"{message['id']}:{subscription.task_name}",
            retry=False,
        )


EventHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


def subscriber(topic: str, *, queue: str = "default") -> Callable[[EventHandler], Task]:
    """Make an event handler a Celery task subscribed to ``topic`` through the outbox.

    The handler runs in its own transaction together with the deduplication record, so a
    redelivered event is skipped, and a failed handler leaves no trace and is retried.
    """

    def register(handler: EventHandler) -> Task:
        name = f"{handler.__module__}.{handler.__name__}"

        async def handle(message: dict[str, Any]) -> None:
            async with session_factory()() as session:
                if await outbox.mark_processed(session, uuid.UUID(message["id"]), name):
                    await handler(session, message)
                    await commit(session)

        @celery_app.task(name=name, queue=queue)  # type: ignore[untyped-decorator]
        def task(message: dict[str, Any]) -> None:
            run_async(handle(message))

        outbox.subscribers.add(topic, name, queue)
        return task

    return register


@celery_app.task(name="outbox.relay")  # type: ignore[untyped-decorator]
def relay() -> int:
    """Hand undelivered outbox events to the broker."""
    return run_async(outbox.deliver(limit=get_settings().outbox.batch_size))


@celery_app.task(name="outbox.purge")  # type: ignore[untyped-decorator]
def purge() -> int:
    """Drop delivered outbox events past their retention."""
    return run_async(outbox.purge_delivered(timedelta(days=get_settings().outbox.retention_days)))


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _init_process(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.logging.level, settings.logging.json_format)


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _shutdown_process(**_: Any) -> None:
    run_async(dispose_engine())


def _load_task_modules() -> None:
    for module in (*TASK_MODULES, *get_settings().celery.imports):
        importlib.import_module(module)


_load_task_modules()
