"""Reactions run in the transaction that emits their event, before it commits; a change
written on the condition that they have nothing to do queues none."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import events, reactions
from ticketcreator.core.db import commit
from ticketcreator.core.events import Topic

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def reacted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The messages a reaction to ``ai.triage_requested`` was run with (registered for this
    test only)."""
    messages: list[dict[str, Any]] = []
    monkeypatch.setattr(reactions, "_reactions", {})

    @reactions.reaction(Topic.AI_TRIAGE_REQUESTED)
    async def record(session: AsyncSession, message: dict[str, Any]) -> None:
        messages.append(message)

    return messages


async def test_a_reaction_runs_before_its_event_commits(
    session: AsyncSession, reacted: list[dict[str, Any]]
) -> None:
    marker = str(uuid.uuid4())
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": marker})
    assert reacted == []
    await commit(session)
    assert [message["payload"]["ticket_id"] for message in reacted] == [marker]


async def test_events_emitted_while_reactions_are_forgone_queue_none(
    session: AsyncSession, reacted: list[dict[str, Any]]
) -> None:
    forgone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    with reactions.forgone(session):
        with reactions.forgone(session):
            events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": forgone})
        events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": forgone})
    events.emit(session, Topic.AI_TRIAGE_REQUESTED, {"ticket_id": kept})
    await commit(session)
    assert [message["payload"]["ticket_id"] for message in reacted] == [kept]
