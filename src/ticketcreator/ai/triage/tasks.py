"""Worker side of AI triage (``ai`` queue): triage runs, feedback, model training.

The models (MiniLM, scikit-learn) are loaded when a task first needs them, once per worker
process; the API process imports this module only to learn the subscribers.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.tasks import celery_app, run_async


@subscriber(Topic.TICKET_CREATED, queue="ai")
async def triage_new_ticket(session: AsyncSession, message: dict[str, Any]) -> None:
    """Every new ticket is triaged."""
    from ticketcreator.ai.triage import service

    await service.triage(session, uuid.UUID(message["payload"]["ticket_id"]))


@subscriber(Topic.AI_TRIAGE_REQUESTED, queue="ai")
async def triage_on_request(session: AsyncSession, message: dict[str, Any]) -> None:
    """A person asked for a new triage run of a ticket."""
    from ticketcreator.ai.triage import service

    await service.triage(session, uuid.UUID(message["payload"]["ticket_id"]))


@subscriber(Topic.TICKET_CONTENT_ADDED, queue="ai")
async def triage_with_new_content(session: AsyncSession, message: dict[str, Any]) -> None:
    """A transcript, screenshot text or capture reached the ticket: triage it again with it."""
    from ticketcreator.ai.triage import service

    await service.triage(session, uuid.UUID(message["payload"]["ticket_id"]))


@subscriber(Topic.TICKET_UPDATED, queue="ai")
async def collect_feedback(session: AsyncSession, message: dict[str, Any]) -> None:
    """A person changed fields: feedback on AI values, and maybe a training later."""
    from ticketcreator.ai.triage import feedback

    await feedback.record_feedback(session, message)


@subscriber(Topic.AI_TRAINING_REQUESTED, queue="ai")
async def train_on_request(session: AsyncSession, message: dict[str, Any]) -> None:
    """An admin asked for a new model version of their organization."""
    from ticketcreator.ai.triage import training

    payload = message["payload"]
    await training.train(
        session, uuid.UUID(payload["organization_id"]), force=bool(payload.get("force"))
    )


@subscriber(Topic.AI_TRAINING_DUE, queue="ai")
async def train_when_due(session: AsyncSession, message: dict[str, Any]) -> None:
    """Labels changed a while ago (the burst is over): train if enough of them are new."""
    from ticketcreator.ai.triage import training

    await training.train(session, uuid.UUID(message["payload"]["organization_id"]))


async def _train_due() -> None:
    from ticketcreator.ai.triage import training

    async with session_factory()() as session:
        await training.train_due(session)
        await commit(session)


@celery_app.task(name="ai.train_due", queue="ai")  # type: ignore[untyped-decorator]
def train_due() -> None:
    """Periodic: train every organization with label changes since its latest model."""
    run_async(_train_due())
