"""Every task module of the product, loaded explicitly by the processes that need them.

A task module declares its Celery tasks (``@celery_app.task``) and its outbox subscribers
(:func:`ticketcreator.core.events.subscriber`). :func:`load` imports them all, and the
modules named in the ``celery.imports`` setting, registers the routing action types other
parts offer (integrations: ``sync``, notifications: ``notify``), then marks the subscribers
complete: from then on the process fans events out (:func:`ticketcreator.core.events.deliver`).
The worker and beat load them when they start (:mod:`ticketcreator.worker`), the API when it
is created (:func:`ticketcreator.main.create_app`).
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from ticketcreator.core.config import get_settings
from ticketcreator.core.events import subscribers
from ticketcreator.core.tasks import celery_app

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


# What task bodies import when they run (inside the function, to keep import cycles out). They
# are imported with the task modules: otherwise each process pays for them on its first task
# or request (routing's flows: 0.5 s, and 2.6 s while they brought scikit-learn, which held a
# worker child and the events queued behind it), and a worker's pool processes import them
# each instead of sharing the parent's copy. tests/test_architecture.py checks the list is
# complete.
DEFERRED_MODULES = (
    "ticketcreator.routing.flows",
    "ticketcreator.attachments.processing",
    "ticketcreator.attachments.service",
    "ticketcreator.transcripts.flows",
    "ticketcreator.media",
    "ticketcreator.ai.triage.service",
    "ticketcreator.ai.triage.feedback",
    "ticketcreator.ai.triage.training",
)


def load() -> None:
    """Import every task module and what their tasks import (once), register the routing
    action types other parts offer, and set beat's schedule."""
    from ticketcreator.integrations import rule_actions as integration_actions
    from ticketcreator.notifications import rule_actions as notification_actions
    from ticketcreator.routing import actions

    for module in (*TASK_MODULES, *DEFERRED_MODULES, *get_settings().celery.imports):
        importlib.import_module(module)
    for action in (*integration_actions.action_types(), *notification_actions.action_types()):
        actions.register(action)
    celery_app.conf.beat_schedule = beat_schedule()
    subscribers.complete()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The periodic tasks: the outbox relay and purge, and each part's housekeeping."""
    settings = get_settings()
    return {
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
        "notifications-email-sweep": {
            "task": "notifications.email_sweep",
            "schedule": timedelta(seconds=settings.email_notifications.sweep_interval_s),
            "options": {
                "queue": "default",
                "expires": settings.email_notifications.sweep_interval_s,
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
    }
