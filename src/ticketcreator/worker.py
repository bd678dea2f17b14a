"""Entry point of the Celery worker and beat: ``celery -A ticketcreator.worker:celery_app``.

The app itself is :data:`ticketcreator.core.tasks.celery_app`. Importing this module loads no
task: when a worker or beat starts (before the worker forks its pool), it loads every task
module (:func:`ticketcreator.tasks.load`); each pool process then sets up its logging, and
closes its database connections when it stops.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from ticketcreator import tasks
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import dispose_engine
from ticketcreator.core.logging import configure_logging
from ticketcreator.core.tasks import celery_app, run_async

__all__ = ["celery_app"]


@signals.import_modules.connect  # type: ignore[untyped-decorator]
def _load_tasks(**_: Any) -> None:
    tasks.load()


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _init_process(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.logging.level, settings.logging.json_format)


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _shutdown_process(**_: Any) -> None:
    run_async(dispose_engine())
