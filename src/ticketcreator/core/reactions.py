"""Reactions: work that commits with the change that emitted an event.

A subscriber (:func:`ticketcreator.core.events.subscriber`) runs after the commit, in a
transaction of its own. A reaction runs in the transaction that emits the event, so that the
change and the reaction's work commit together or not at all (routing rules after a triage
or a person's change). It runs when the emitter calls :func:`react` (so that what the
emitter returns includes its work), at the latest before the commit
(:func:`ticketcreator.core.db.commit` and the request's unit of work). Events a reaction
emits get their reactions in turn. Task modules register reactions, as they do subscribers.

A reaction may also say, in SQL, when it has nothing to do in an organization (``idle``:
no routing rule listens to the event). A change written by one statement of its own, outside
a session's transaction, runs no reaction: it may be written that way only on the condition
that every reaction its events would get is idle (:func:`idle`), and then queues none of
them (:func:`forgone`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, partial
from typing import Any

from sqlalchemy import ColumnElement, and_, true
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.db import before_commit, run_before_commit
from ticketcreator.core.outbox import message_of

Reaction = Callable[[AsyncSession, dict[str, Any]], Coroutine[Any, Any, None]]
Filter = Callable[[dict[str, Any]], bool]
Idle = Callable[[ColumnElement[Any]], ColumnElement[bool]]
"""Given an organization's id (a SQL expression), whether a reaction has nothing to do there."""
_reactions: dict[str, list[tuple[Reaction, Filter | None, Idle | None]]] = {}
_FORGONE = "ticketcreator_reactions_forgone"  # in a session's info: queue no reaction


def reaction(
    topic: str, *, when: Filter | None = None, idle: Idle | None = None
) -> Callable[[Reaction], Reaction]:
    """Run the handler, with the event's message, in the transaction that emits ``topic``
    (when ``when`` accepts the payload). ``idle``: when, in SQL, the handler has nothing to
    do in the event's organization."""

    def register(handler: Reaction) -> Reaction:
        entries = _reactions.setdefault(topic, [])
        if all(existing is not handler for existing, _, _ in entries):
            entries.append((handler, when, idle))
        return handler

    return register


def idle(topics: Iterable[str], organization: ColumnElement[Any]) -> ColumnElement[bool] | None:
    """In SQL, whether every reaction to events of ``topics`` in ``organization`` has nothing
    to do (true when none is registered), whatever their payloads; None when one of them
    cannot say. The same expression while no reaction is registered (statements built on it
    are built once)."""
    return _idle(tuple(topics), organization, sum(map(len, _reactions.values())))


@cache
def _idle(
    topics: tuple[str, ...], organization: ColumnElement[Any], _registered: int
) -> ColumnElement[bool] | None:
    conditions = []
    for topic in topics:
        for _, _, condition in _reactions.get(topic, ()):
            if condition is None:
                return None
            conditions.append(condition(organization))
    return and_(true(), *conditions)


@contextmanager
def forgone(session: AsyncSession) -> Iterator[None]:
    """Within this block, events emitted in ``session`` queue no reaction: their change is
    written on the condition that each of them has nothing to do (:func:`idle`)."""
    outermost = _FORGONE not in session.info
    session.info[_FORGONE] = True
    try:
        yield
    finally:
        if outermost:
            del session.info[_FORGONE]


def queue(session: AsyncSession, row: Mapping[str, Any]) -> None:
    """Plan the reactions to an event just emitted in ``session`` (called by ``emit``, with
    the event's row)."""
    if _FORGONE in session.info:
        return
    entries = _reactions.get(row["topic"], ())
    handlers = [handler for handler, when, _ in entries if when is None or when(row["payload"])]
    if not handlers:
        return
    message = message_of(row)  # made once, only for an event something reacts to
    for handler in handlers:
        before_commit(session, partial(handler, session, message))


async def react(session: AsyncSession) -> None:
    """Run now the reactions to the events emitted so far in this transaction."""
    await run_before_commit(session)
