"""The Celery application, and running async code in its tasks.

Queues: ``default`` (outbox relay, housekeeping), ``ai`` (triage, training), ``media``
(probing, transcription, OCR), ``integrations`` (vendor sync, notifications). Tasks are
acknowledged after they finish (``acks_late``) and re-queued if a worker dies, so every task
is written to be idempotent. Messages are JSON only. A task is killed after
``celery.task_time_limit_s``, and the broker hands an unacknowledged message out again only
after a longer visibility timeout, so no task runs twice because it is slow. Subscribers
count their runs and are retried and dead-lettered by the outbox (:mod:`ticketcreator.core.outbox`).

Task modules declare their tasks with ``@celery_app.task`` and their outbox subscribers with
:func:`ticketcreator.core.events.subscriber`; Celery binds them when the app is finalized.
Which modules exist is listed once, in :mod:`ticketcreator.tasks`. Each worker process keeps
one event loop for its whole life (created lazily in the child after fork), so the async
engine's pooled connections always belong to the loop that uses them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any

import redis
from celery import Celery, Task
from kombu import Queue
from redis.exceptions import RedisError

from ticketcreator.core.config import get_settings

QUEUES = ("default", "ai", "media", "integrations")

log = logging.getLogger(__name__)
_loops: dict[int, asyncio.AbstractEventLoop] = {}


def run_async[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this process's long-lived event loop."""
    pid = os.getpid()
    loop = _loops.get(pid)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _loops[pid] = loop
    return loop.run_until_complete(coro)


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
