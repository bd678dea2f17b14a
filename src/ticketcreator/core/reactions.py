"""Reactions: work that commits with the change that emitted an event.

A subscriber (:func:`ticketcreator.core.events.subscriber`) runs after the commit, in a
transaction of its own. A reaction runs in the transaction that emits the event, so that the
change and the reaction's work commit together or not at all (routing rules after a triage
or a person's change). It runs when the emitter calls :func:`react` (so that what the
emitter returns includes its work), at the latest before the commit
(:func:`ticketcreator.core.db.commit` and the request's unit of work). Events a reaction
emits get their reactions in turn. Task modules register reactions, as they do subscribers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import before_commit, run_before_commit
from ticketcreator.core.outbox import message_of

Reaction = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
Filter = Callable[[dict[str, Any]], bool]
_reactions: dict[str, list[tuple[Reaction, Filter | None]]] = {}


def reaction(topic: str, *, when: Filter | None = None) -> Callable[[Reaction], Reaction]:
    """Run the handler, with the event's message, in the transaction that emits ``topic``
    (when ``when`` accepts the payload)."""

    def register(handler: Reaction) -> Reaction:
        entries = _reactions.setdefault(topic, [])
        if all(existing is not handler for existing, _ in entries):
            entries.append((handler, when))
        return handler

    return register


def queue(session: AsyncSession, row: Mapping[str, Any]) -> None:
    """Plan the reactions to an event just emitted in ``session`` (called by ``emit``, with
    the event's row)."""
    entries = _reactions.get(row["topic"], ())
    handlers = [handler for handler, when in entries if when is None or when(row["payload"])]
    if not handlers:
        return
    message = message_of(row)  # made once, only for an event something reacts to
    for handler in handlers:

        async def run(handler: Reaction = handler) -> None:
            await handler(session, message)

        before_commit(session, run)


async def react(session: AsyncSession) -> None:
    """Run now the reactions to the events emitted so far in this transaction."""
    await run_before_commit(session)
