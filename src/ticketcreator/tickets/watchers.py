"""Who watches a ticket: agents manage every watcher, reporters (un)watch their own tickets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import OWN_TICKETS_ONLY, Permission
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.core.events import Topic
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.tickets import history
from ticketcreator.tickets import watcher_repository as repo
from ticketcreator.tickets.errors import InvalidWatcher
from ticketcreator.tickets.models import Ticket, Watcher


def _check_may_change(principal: Principal, user_id: uuid.UUID) -> None:
    """Agents manage every watcher; reporters may (un)watch their own tickets themselves."""
    itself = user_id == principal.user_id and principal.can(Permission.TICKETS_CREATE)
    if not (itself or principal.can(Permission.TICKETS_WRITE)):
        raise Forbidden(
            "Changing who watches a ticket needs `tickets:write`.",
            required_permission=Permission.TICKETS_WRITE.value,
        )


async def list_watchers(session: AsyncSession, ticket: Ticket) -> Sequence[Watcher]:
    return await repo.watchers(session, ticket)


async def add_watcher(
    session: AsyncSession, principal: Principal, ticket: Ticket, user_id: uuid.UUID
) -> Sequence[Watcher]:
    _check_may_change(principal, user_id)
    role = await taxonomy_lookups.member_role(session, principal.organization_id, user_id)
    if role is None or (role in OWN_TICKETS_ONLY and ticket.reporter_id != user_id):
        raise InvalidWatcher(
            "Watchers must be members who can see the ticket "
            "(a reporter can watch only their own tickets).",
            user_id=str(user_id),
        )
    if await repo.add_watcher(session, ticket, user_id):
        history.record(session, principal, ticket, "watcher_added", "watchers", None, user_id)
        history.publish(
            session, principal, ticket, Topic.TICKET_WATCHERS_CHANGED, added=str(user_id)
        )
    return await repo.watchers(session, ticket)


async def remove_watcher(
    session: AsyncSession, principal: Principal, ticket: Ticket, user_id: uuid.UUID
) -> None:
    _check_may_change(principal, user_id)
    if not await repo.remove_watcher(session, ticket, user_id):
        raise NotFound("That user does not watch this ticket.")
    history.record(session, principal, ticket, "watcher_removed", "watchers", user_id, None)
    history.publish(session, principal, ticket, Topic.TICKET_WATCHERS_CHANGED, removed=str(user_id))
