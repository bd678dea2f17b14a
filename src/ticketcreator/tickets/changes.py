"""Changing a locked ticket, in named steps: check the new values, set the fields that differ,
add and remove tags; then bump the version, record one event per change and announce the
change (``ticket.updated``, and the topic of a field that has one), write the row (with its
search document, when the title or description changes), its history and its events in one
statement, and run the reactions to the change (routing rules on a person's change) in the
same transaction.

A change of fields can also be made to a ticket read without its lock
(:func:`apply_on_condition`): the same steps, but the row (with its search document), its
history and its events are written only if the ticket is still at the version read and no
reaction to the change has anything to do (:func:`unlocked_condition`); otherwise nothing is
written and the request runs again, on the locked ticket
(:class:`~ticketcreator.core.db.Raced`). Without a lock held for the transaction, the change
is one statement, its own transaction when nothing else is to be done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import reactions
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import Raced, utcnow
from ticketcreator.core.events import Topic
from ticketcreator.core.journal import json_value
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy import service as taxonomy
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets import change_repository as change_repo
from ticketcreator.tickets import history
from ticketcreator.tickets.errors import InvalidAssignee, InvalidReference
from ticketcreator.tickets.models import Status, Ticket
from ticketcreator.tickets.workflow import check_transition

ASSIGNABLE_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})

# Field → event kind and the outbox topic that announces it (besides ``ticket.updated``).
_KIND = {"status": "status_changed", "assignee_id": "assigned"}
_TOPIC = {"status": Topic.TICKET_STATUS_CHANGED, "assignee_id": Topic.TICKET_ASSIGNED}


async def check_reference(
    session: AsyncSession, principal: Principal, model: type[Category] | type[Team], id_: Any
) -> None:
    if id_ is not None and not await taxonomy_lookups.exists_in(
        session, model, principal.organization_id, id_
    ):
        raise InvalidReference(
            f"No {model.__tablename__} {id_} in this organization.", field=model.__tablename__
        )


async def check_assignee(session: AsyncSession, principal: Principal, user_id: Any) -> None:
    if user_id is None:
        return
    role = await taxonomy_lookups.member_role(session, principal.organization_id, user_id)
    if role not in ASSIGNABLE_ROLES:
        raise InvalidAssignee(
            "Tickets can be assigned only to owners, admins and agents of this organization.",
            assignee_id=str(user_id),
            role=role.value if role else None,
        )


async def apply(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    changes: dict[str, Any],
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Validate, then apply ``changes`` (field → new value) and tag changes to a locked ticket.

    Writes one event per changed field, bumps the version and announces the change; returns
    the changes (empty when nothing differed). The ticket's row, its history and its events
    are written by one statement, outside the ORM's unit of work: ``ticket`` holds the new
    values as loaded ones, so nothing of it is flushed again.
    """
    changes = await _checked(session, principal, ticket, changes)
    written: dict[str, Any] = {}
    applied = _set_fields(ticket, changes, written)
    tagged = await _set_tags(session, principal, ticket, add_tags, remove_tags)
    if not applied and not tagged:
        return applied
    applied += tagged
    _stamp(session, principal, ticket, applied, written)
    if tagged:
        await session.flush()  # the ticket's tag rows
    await change_repo.write_changes(
        session, ticket.id, written, get_settings().tickets.search_language
    )
    # e.g. routing rules on a person's change: the caller sees their work
    await reactions.react(session)
    return applied


def unlocked_condition() -> ColumnElement[bool] | None:
    """In SQL, on a ticket's row, whether a change of its fields may be written without the
    ticket's lock: no reaction to its events has anything to do in its organization; None
    when a reaction cannot say (every change then takes the lock)."""
    topics = (Topic.TICKET_UPDATED, *_TOPIC.values())
    return reactions.idle(topics, Ticket.__table__.c.organization_id)


async def apply_on_condition(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    changes: dict[str, Any],
    condition: ColumnElement[bool],
) -> dict[str, Any]:
    """As :func:`apply`, without tags, for ``ticket`` read without its lock along with
    ``condition`` (:func:`unlocked_condition`), which held: written only if the ticket is
    still at the version read and the condition still holds (raises
    :class:`~ticketcreator.core.db.Raced` otherwise, having written nothing).
    Returns the columns written with their new values (empty when nothing differed)."""
    read = ticket.version
    changes = await _checked(session, principal, ticket, changes)
    written: dict[str, Any] = {}
    applied = _set_fields(ticket, changes, written)
    if not applied:
        return written
    with reactions.forgone(session):  # the condition: each has nothing to do
        _stamp(session, principal, ticket, applied, written)
    language = get_settings().tickets.search_language
    if not await change_repo.write_changes_on_condition(
        session, ticket.id, read, written, condition, language
    ):
        raise Raced("The ticket changed since it was read, or its changes now get reactions.")
    return written


async def _checked(
    session: AsyncSession, principal: Principal, ticket: Ticket, changes: dict[str, Any]
) -> dict[str, Any]:
    """``changes`` once every new value is allowed (custom fields merged and validated)."""
    if "status" in changes and changes["status"] != ticket.status:
        check_transition(ticket.status, changes["status"])
    if "category_id" in changes:
        await check_reference(session, principal, Category, changes["category_id"])
    if "team_id" in changes:
        await check_reference(session, principal, Team, changes["team_id"])
    if "assignee_id" in changes and changes["assignee_id"] != ticket.assignee_id:
        await check_assignee(session, principal, changes["assignee_id"])
    if "custom_fields" in changes:
        definitions = await taxonomy_lookups.custom_fields(session, principal.organization_id)
        changes["custom_fields"] = taxonomy.validate_custom_fields(
            definitions, ticket.custom_fields, changes["custom_fields"], creating=False
        )
    return changes


def _set_fields(
    ticket: Ticket, changes: dict[str, Any], written: dict[str, Any]
) -> list[dict[str, Any]]:
    """Set the fields whose value differs (into ``written`` too); one change per field (per
    key of custom fields)."""
    applied: list[dict[str, Any]] = []
    for field, new in changes.items():
        old = getattr(ticket, field)
        if old == new:
            continue
        if field == "custom_fields":
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    applied.append(
                        {"field": f"custom_fields.{key}", "old": old.get(key), "new": new.get(key)}
                    )
        else:
            applied.append({"field": field, "old": json_value(old), "new": json_value(new)})
        _set(ticket, written, field, new)
        if field == "status":
            _enter_status(ticket, new, written)
    return applied


def _set(ticket: Ticket, written: dict[str, Any], field: str, value: Any) -> None:
    """Give ``ticket`` the value its row is about to be written with (as a loaded value, not
    a change for the ORM to flush)."""
    set_committed_value(ticket, field, value)
    written[field] = value


def _enter_status(ticket: Ticket, status: Status, written: dict[str, Any]) -> None:
    now = utcnow()
    if status is Status.RESOLVED:
        _set(ticket, written, "resolved_at", now)
        _set(ticket, written, "closed_at", None)
    elif status is Status.CLOSED:
        _set(ticket, written, "closed_at", now)
    else:
        _set(ticket, written, "resolved_at", None)
        _set(ticket, written, "closed_at", None)


async def _set_tags(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    add_tags: Sequence[str],
    remove_tags: Sequence[str],
) -> list[dict[str, Any]]:
    """Add the tags the ticket lacks (creating unknown ones) and remove those it has."""
    current = {tag.name for tag in ticket.tags}
    added = sorted(set(add_tags) - current)
    removed = sorted(set(remove_tags) & current)
    if added:
        ticket.tags.extend(await taxonomy.ensure_tags(session, principal, added))
    if removed:
        ticket.tags[:] = [tag for tag in ticket.tags if tag.name not in removed]
    return [{"field": "tags", "old": None, "new": name} for name in added] + [
        {"field": "tags", "old": name, "new": None} for name in removed
    ]


def _stamp(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    applied: list[dict[str, Any]],
    written: dict[str, Any],
) -> None:
    """Bump the version of a ticket whose fields ``applied`` changed, then record and
    announce each change."""
    _set(ticket, written, "version", ticket.version + 1)
    _set(ticket, written, "updated_at", utcnow())
    _record(session, principal, ticket, applied)
    _announce(session, principal, ticket, applied)


def _record(
    session: AsyncSession, principal: Principal, ticket: Ticket, applied: list[dict[str, Any]]
) -> None:
    for change in applied:
        if change["field"] == "tags":
            kind = "tagged" if change["new"] else "untagged"
        else:
            kind = _KIND.get(change["field"], "updated")
        history.record(
            session, principal, ticket, kind, change["field"], change["old"], change["new"]
        )


def _announce(
    session: AsyncSession, principal: Principal, ticket: Ticket, applied: list[dict[str, Any]]
) -> None:
    history.publish(
        session, principal, ticket, Topic.TICKET_UPDATED, changes=applied, version=ticket.version
    )
    for change in applied:
        topic = _TOPIC.get(change["field"])
        if topic:
            history.publish(session, principal, ticket, topic, old=change["old"], new=change["new"])
