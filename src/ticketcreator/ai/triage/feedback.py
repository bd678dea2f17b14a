"""People's corrections of values the AI set, and the trainings they schedule."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage.config import runtime_config
from ticketcreator.ai.triage.models import AIFeedback
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.events import Topic, emit
from ticketcreator.tickets.models import ActorKind

# Fields whose human correction of an AI value is feedback.
FEEDBACK_FIELDS: Final = ("category_id", "priority", "type", "title", "tags")


async def record_feedback(session: AsyncSession, message: dict[str, Any]) -> list[AIFeedback]:
    """Store a person's change of a field the AI had set; schedule training on label changes.

    Reads ``ticket.updated`` events: their ``changes`` list every field with old and new
    value, and ``actor_kind`` says whether a person (directly or through an API key) made it.
    """
    payload = message["payload"]
    if payload.get("actor_kind") not in (ActorKind.USER, ActorKind.API_KEY):
        return []
    user_id, key_id = payload.get("actor_user_id"), payload.get("actor_api_key_id")
    ticket_id = uuid.UUID(payload["ticket_id"])
    organization_id = uuid.UUID(message["organization_id"])
    feedback: list[AIFeedback] = []
    for change in payload.get("changes", []):
        field = change["field"]
        if field not in FEEDBACK_FIELDS:
            continue
        decision = await repo.latest_applied(session, ticket_id, field)
        if decision is None:
            continue
        ai_value = decision.applied_fields[field]
        corrected = (
            change["old"] is not None and change["old"] in ai_value
            if field == "tags"
            else change["old"] == ai_value
        )
        if corrected:
            feedback.append(
                AIFeedback(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    ticket_id=ticket_id,
                    decision_id=decision.id,
                    field=field,
                    ai_value=change["old"],
                    human_value=change["new"],
                    actor_user_id=uuid.UUID(user_id) if user_id else None,
                    actor_api_key_id=uuid.UUID(key_id) if key_id else None,
                    created_at=utcnow(),
                )
            )
    session.add_all(feedback)
    if any(change["field"] in repo.LABEL_FIELDS for change in payload.get("changes", [])):
        _, settings = await runtime_config(session, organization_id)
        await schedule_training(session, organization_id, settings.training_debounce_s)
    await session.flush()
    return feedback


async def schedule_training(
    session: AsyncSession, organization_id: uuid.UUID, debounce_s: int
) -> bool:
    """Announce one training of the organization ``debounce_s`` from now (a delayed
    ``ai.training_due`` event), unless one is announced already.

    Label changes come in bursts (a person re-categorizing a dozen tickets); a Redis key that
    lives for the debounce window lets only the first change of a burst announce a training
    (if that change is rolled back, the hourly ``ai.train_due`` catches up). Returns whether a
    training was announced.
    """
    cfg = get_settings().redis
    client = aioredis.Redis.from_url(cfg.url, socket_timeout=cfg.socket_timeout_s)
    try:
        first = await client.set(
            f"ai:training-queued:{organization_id}", "1", nx=True, ex=max(1, debounce_s)
        )
    except RedisError:
        first = True  # without Redis, better one training too many than none
    finally:
        await client.aclose()
    if not first:
        return False
    emit(
        session,
        Topic.AI_TRAINING_DUE,
        {"organization_id": str(organization_id), "force": False},
        organization_id=organization_id,
        delay=timedelta(seconds=debounce_s),
    )
    return True
