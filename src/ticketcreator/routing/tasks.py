"""Routing's reactions and subscribers: rules after triage and on a person's changes (in the
transaction of the change), SLA clocks, the SLA checker."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import commit, session_factory
from ticketcreator.core.events import Topic, subscriber
from ticketcreator.core.reactions import reaction
from ticketcreator.core.tasks import celery_app, run_async
from ticketcreator.routing.models import Trigger
from ticketcreator.tickets.models import ActorKind


@subscriber(Topic.TICKET_CREATED)
async def attach_default_sla(session: AsyncSession, message: dict[str, Any]) -> None:
    from ticketcreator.routing import flows

    await flows.on_created(session, uuid.UUID(message["payload"]["ticket_id"]))


@reaction(Topic.TICKET_TRIAGED)
async def route_triaged(session: AsyncSession, message: dict[str, Any]) -> None:
    """The rules listening to ``triaged``, in the transaction that records the triage."""
    from ticketcreator.routing import flows

    await flows.on_triaged(session, uuid.UUID(message["payload"]["ticket_id"]))


_PEOPLE = frozenset({ActorKind.USER.value, ActorKind.API_KEY.value})


def _by_a_person(payload: dict[str, Any]) -> bool:
    return payload.get("actor_kind") in _PEOPLE


def _no_rule_listening(organization: ColumnElement[Any]) -> ColumnElement[bool]:
    from ticketcreator.routing import repository

    return repository.no_rule_listening(Trigger.UPDATED, organization)


@reaction(Topic.TICKET_UPDATED, when=_by_a_person, idle=_no_rule_listening)
async def route_changed(session: AsyncSession, message: dict[str, Any]) -> None:
    """The rules listening to ``updated``, in the transaction of the person's change."""
    from ticketcreator.routing import flows

    await flows.on_changed_by_person(session, uuid.UUID(message["payload"]["ticket_id"]))


@subscriber(Topic.TICKET_UPDATED)
async def track_changes(session: AsyncSession, message: dict[str, Any]) -> None:
    from ticketcreator.routing import flows

    await flows.on_updated(session, message)


@subscriber(Topic.TICKET_COMMENTED)
async def track_replies(session: AsyncSession, message: dict[str, Any]) -> None:
    from ticketcreator.routing import flows

    await flows.on_commented(session, message)


@subscriber(Topic.ROUTING_SLA_POLICY_CHANGED)
async def recompute_policy(session: AsyncSession, message: dict[str, Any]) -> None:
    from ticketcreator.routing import flows

    await flows.on_policy_changed(session, uuid.UUID(message["payload"]["policy_id"]))


async def _check() -> int:
    from ticketcreator.routing import flows

    async with session_factory()() as session:
        handled = await flows.check_deadlines(session, limit=get_settings().routing.sla_check_batch)
        await commit(session)
    return handled


@celery_app.task(name="routing.check_sla")  # type: ignore[untyped-decorator]
def check_sla() -> int:
    """Periodic: SLA warnings, breaches and escalations that are due."""
    return run_async(_check())
