"""The Celery application: queues, reliability settings, beat schedule, outbox subscribers.

Queues: ``default`` (outbox relay, housekeeping), ``ai`` (triage, training), ``media``
(probing, transcription, OCR), ``integrations`` (vendor sync, notifications). Tasks are
acknowledged after they finish (``acks_late``) and re-queued if a worker dies, so every task
is written to be idempotent. Messages are JSON only. A task is killed after
``celery.task_time_limit_s``, and the broker hands an unacknowledged message out again only
after a longer visibility timeout, so no task runs twice because it is slow. Subscribers
count their runs and are retried and dead-lettered by the outbox (:mod:`ticketcreator.core.outbox`).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import redis
from celery import Celery, Task, signals
from kombu import Queue
from redis.exceptions import RedisError

from ticketcreator.core import outbox
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import dispose_engine
from ticketcreator.core.logging import configure_logging
from ticketcreator.core.outbox import EventHandler
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
    "ticketcreator.integrations.tasks",
    "ticketcreator.routing.tasks",
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
            # Longer than any task may run: a running task's message is never handed out again.
            "visibility_timeout": settings.celery.task_time_limit_s + 600,
            "socket_connect_timeout": settings.celery.publish_timeout_s,
            "socket_timeout": settings.celery.publish_timeout_s,
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=settings.celery.task_time_limit_s,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.celery.worker_concurrency,
        worker_hijack_root_logger=False,
        # Our handler writes to stderr itself; redirected, a pool process's lines were lost.
        worker_redirect_stdouts=False,
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
                "options": {"queue": "default", "expires": 3600},
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
            "integrations-sweep": {
                "task": "integrations.sweep",
                "schedule": timedelta(seconds=settings.integrations.sweep_interval_s),
                "options": {
                    "queue": "integrations",
                    "expires": settings.integrations.sweep_interval_s,
                },
            },
            "routing-check-sla": {
                "task": "routing.check_sla",
                "schedule": timedelta(seconds=settings.routing.sla_check_interval_s),
                "options": {"queue": "default", "expires": settings.routing.sla_check_interval_s},
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
            "attachments-requeue-stuck": {
                "task": "attachments.requeue_stuck",
                "schedule": timedelta(seconds=settings.outbox.sweep_interval_s),
                "options": {"queue": "default", "expires": settings.outbox.sweep_interval_s},
            },
        },
    )
    return app


celery_app = _make_app()


_runs_clients: dict[int, redis.Redis] = {}


def _runs_of(task_id: str) -> int:
    """Count a run of the message ``task_id`` (in Redis, kept for two visibility timeouts);
    0 when Redis cannot count, so that the task runs."""
    settings = get_settings()
    client = _runs_clients.get(os.getpid())
    if client is None:
        timeout = settings.redis.socket_timeout_s
        client = redis.Redis.from_url(
            settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        _runs_clients[os.getpid()] = client
    key = f"tc:task-runs:{task_id}"
    try:
        with client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * (settings.celery.task_time_limit_s + 600))
            runs, _ = pipe.execute()
    except RedisError:
        return 0
    return int(runs)


class BaseTask(Task):  # type: ignore[misc]
    """Late ack, retry with exponential backoff and jitter on :class:`RetriableError`.

    A message that was run more often than its retries allow (its worker died each time, and
    ``task_reject_on_worker_lost`` handed it out again) is not run again: it is dropped with
    an ERROR line ``task dead-lettered``. Outbox subscribers count their runs in the
    database instead (and are replayable).
    """

    acks_late = True
    autoretry_for = (RetriableError,)
    retry_backoff = True
    retry_backoff_max = get_settings().celery.retry_backoff_max_s
    retry_jitter = True
    max_retries = get_settings().celery.default_max_retries
    max_runs: int | None = None  # runs of one message before it is dropped; default retries + 1
    outbox_subscriber = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        limit = self.max_runs
        if limit is None and self.max_retries is not None:
            limit = self.max_retries + 1
        if (
            limit is not None
            and not self.outbox_subscriber
            and not request.called_directly
            and request.id
        ):
            runs = _runs_of(request.id)
            if runs > limit:
                log.error(
                    "task dead-lettered",
                    extra={"task": self.name, "task_id": request.id, "runs": runs - 1},
                )
                return None
        return super().__call__(*args, **kwargs)


celery_app.Task = BaseTask


class CeleryPublisher:
    """Publishes outbox deliveries as Celery tasks; fails fast when the broker is down."""

    def publish(
        self,
        subscription: outbox.Subscription,
        message: dict[str, Any],
        countdown: float | None = None,
    ) -> None:
        celery_app.send_task(
            subscription.task_name,
            args=[message],
            queue=subscription.queue,
            countdown=countdown,
            task_id=f"{message['id']}:{subscription.task_name}",
            retry=False,
        )


def subscriber(
    topic: str | Iterable[str], *, queue: str = "default"
) -> Callable[[EventHandler], Task]:
    """Make an event handler a Celery task subscribed to ``topic`` (one or several) through
    the outbox.

    The handler runs in one transaction with marking its delivery done, so a redelivered
    event is skipped; a failed handler leaves no trace and is retried with backoff, then
    dead-lettered (see :func:`ticketcreator.core.outbox.handle`).
    """

    def register(handler: EventHandler) -> Task:
        name = f"{handler.__module__}.{handler.__name__}"

        @celery_app.task(name=name, queue=queue, outbox_subscriber=True)  # type: ignore[untyped-decorator]
        def task(message: dict[str, Any]) -> None:
            run_async(outbox.handle(message, name, queue, handler))

        for each in [topic] if isinstance(topic, str) else topic:
            outbox.subscribers.add(each, name, queue)
        return task

    return register


@celery_app.task(name="outbox.relay")  # type: ignore[untyped-decorator]
def relay() -> int:
    """Hand undelivered outbox events to the broker."""
    return run_async(outbox.deliver(limit=get_settings().outbox.batch_size))


@celery_app.task(name="outbox.purge")  # type: ignore[untyped-decorator]
def purge() -> int:
    """Drop delivered outbox events and done deliveries past their retention."""
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
