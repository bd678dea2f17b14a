"""Tickets: finding the one a caller may see, creating (numbered, with idempotency), changing
fields, assignee and tags (in bulk: :mod:`ticketcreator.tickets.bulk`), the trash and
permanent deletion.

Listing, comments and the timeline, watchers and external links have modules of their own;
:mod:`ticketcreator.tickets.changes` is the change pipeline every update goes through. Every
change writes a ``ticket_event`` row and an outbox event in the caller's transaction
(:mod:`ticketcreator.tickets.history`). Services flush and never commit (the request's unit
of work does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import OWN_TICKETS_ONLY, Permission
from ticketcreator.core import reads
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import retried, untouched, utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.core.events import Topic
from ticketcreator.core.outbox import scrub
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy import service as taxonomy
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets import change_repository as change_repo
from ticketcreator.tickets import changes, history, idempotency
from ticketcreator.tickets import idempotency_repository as idempotency_repo
from ticketcreator.tickets import repository as repo
from ticketcreator.tickets.errors import InvalidReference, StaleVersion
from ticketcreator.tickets.models import Status, Ticket
from ticketcreator.tickets.schemas import TicketCreate, TicketRead, TicketUpdate
from ticketcreator.tickets.visibility import Visibility

_MAX_NUMBER = 2**31 - 1
_LOCKED = "ticketcreator_locked_tickets"


def visibility(principal: Principal) -> Visibility:
    return Visibility(
        organization_id=principal.organization_id,
        own_only=principal.role in OWN_TICKETS_ONLY,
        user_id=principal.user_id,
        internal=principal.can(Permission.COMMENTS_INTERNAL),
    )


async def visible_ids(
    session: AsyncSession, principal: Principal, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``ids`` name live tickets the caller may see (the ticket list's rule)."""
    return await repo.visible_ids(session, visibility(principal), list(ids))


def etag(ticket: Ticket | TicketRead) -> str:
    return f'"{ticket.version}"'


def parse_ref(ref: str) -> tuple[uuid.UUID | None, int | None]:
    """A ticket reference: its id, ``T-<n>`` or ``<n>``; unparsable ones match nothing."""
    try:
        return uuid.UUID(ref), None
    except ValueError:
        pass
    digits = ref[2:] if ref[:2].upper() == "T-" else ref
    if digits.isdigit() and 0 < int(digits) <= _MAX_NUMBER:
        return None, int(digits)
    raise NotFound(f"No ticket {ref!r}.")


async def load(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    lock: bool = False,
    deleted: bool | None = False,
) -> Ticket:
    ticket_id, number = parse_ref(ref)
    ticket = await repo.get_ticket(
        session,
        visibility(principal),
        ticket_id=ticket_id,
        number=number,
        deleted=deleted,
        lock=lock,
    )
    if ticket is None:
        raise NotFound(f"No ticket {ref!r}.")
    if lock:
        hold(session, ticket)
    return ticket


async def read(principal: Principal, ref: str) -> TicketRead:
    """The live ticket ``ref`` names, as the caller reads it (404 unless they may see it)."""
    ticket_id, number = parse_ref(ref)
    row = await repo.read_ticket(visibility(principal), ticket_id=ticket_id, number=number)
    if row is None:
        raise NotFound(f"No ticket {ref!r}.")
    return TicketRead.from_row(row)


def hold(session: AsyncSession, ticket: Ticket) -> None:
    """Record that this transaction holds ``ticket`` under its row lock (see :func:`held`);
    for callers that lock it with a query of their own."""
    session.info.setdefault(_LOCKED, {})[ticket.id] = ticket


def held(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    """The live ticket this transaction already holds under its row lock (loaded with
    ``lock``), so that work joining the transaction, such as the rules reacting to a change,
    does not read it again; None when it holds none."""
    ticket: Ticket | None = session.info.get(_LOCKED, {}).get(ticket_id)
    return ticket if ticket is not None and ticket.deleted_at is None else None


@event.listens_for(Session, "after_transaction_end")
def _release_held(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the row locks end with the outermost transaction
        session.info.pop(_LOCKED, None)


def check_if_match(ticket: Ticket, if_match: str | None) -> None:
    """Refuse a write based on an outdated read (``If-Match`` without the current ETag)."""
    if if_match is None:
        return
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in tags and etag(ticket) not in tags:
        raise StaleVersion(
            "The ticket changed since you read it; fetch it again and retry.",
            current_etag=etag(ticket),
        )


async def refresh_search(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Recompute the ticket's search document, once text it is found by changed (a public
    comment, the transcript or screenshot text of a capture)."""
    await change_repo.refresh_search(session, ticket_id, get_settings().tickets.search_language)


# Creating


async def create_ticket(
    session: AsyncSession,
    principal: Principal,
    data: TicketCreate,
    idempotency_key: str | None,
) -> tuple[TicketRead, bool]:
    """The new ticket, and whether it is the replay of an earlier request with the same key.

    A request repeating an ``Idempotency-Key`` of the same caller gets the first response back
    (never a second ticket); the same key with a different body is refused.
    """

    async def create(remember: idempotency.Remember, definitions: Any) -> TicketRead:
        return await _create(session, principal, data, remember, definitions)

    async with reads.one_connection():  # the key's look-up, the definitions and the insert
        return await idempotency.once(
            session,
            principal,
            idempotency_key,
            data,
            create,
            TicketRead,
            alongside=taxonomy_lookups.definitions_json(),
        )


async def _create(
    session: AsyncSession,
    principal: Principal,
    data: TicketCreate,
    remember: idempotency.Remember,
    definitions: list[dict[str, Any]] | None,
) -> TicketRead:
    """``definitions``: the organization's custom fields as JSON objects
    (:func:`~ticketcreator.taxonomy.lookups.definitions_json`), when read along with the
    ``Idempotency-Key``; otherwise they are read here."""
    triage = {"assignee_id": data.assignee_id, "team_id": data.team_id}
    on_behalf = data.reporter_id is not None and data.reporter_id != principal.user_id
    if (on_behalf or any(v is not None for v in triage.values())) and not principal.can(
        Permission.TICKETS_WRITE
    ):
        raise Forbidden(
            "Only callers with `tickets:write` may set the reporter, assignee or team.",
            required_permission=Permission.TICKETS_WRITE.value,
        )
    reporter_id = data.reporter_id or principal.user_id
    if on_behalf and data.reporter_id is not None:
        role = await taxonomy_lookups.member_role(
            session, principal.organization_id, data.reporter_id
        )
        if role is None:
            raise InvalidReference(
                "The reporter is not a member of this organization.", field="reporter_id"
            )
    await changes.check_reference(session, principal, Category, data.category_id)
    await changes.check_reference(session, principal, Team, data.team_id)
    await changes.check_assignee(session, principal, data.assignee_id)
    fields = (
        taxonomy_lookups.definitions_of(definitions)
        if definitions is not None
        else await taxonomy_lookups.custom_fields(session, principal.organization_id)
    )
    custom_fields = taxonomy.validate_custom_fields(fields, {}, data.custom_fields, creating=True)
    tags = await taxonomy.ensure_tags(session, principal, data.tags)
    number = await repo.take_number(session, principal.organization_id)
    now = utcnow()
    ticket = repo.new_ticket(
        id=uuid.uuid4(),
        number=number,
        organization_id=principal.organization_id,
        title=data.title,
        description=data.description,
        status=Status.OPEN,
        priority=data.priority,
        type=data.type,
        source=data.source,
        category_id=data.category_id,
        team_id=data.team_id,
        reporter_id=reporter_id,
        assignee_id=data.assignee_id,
        due_at=data.due_at,
        custom_fields=custom_fields,
        version=1,
        created_at=now,
        updated_at=now,
        tags=tags,
    )
    read = TicketRead.model_validate(ticket)
    snapshot = read.model_dump(mode="json")
    history.record(session, principal, ticket, "created", new=snapshot)
    history.publish(session, principal, ticket, Topic.TICKET_CREATED, snapshot=snapshot)
    remember(snapshot)  # the response as JSON, already made for the history and the event
    await repo.insert_ticket(session, ticket, get_settings().tickets.search_language)
    return read


# Changing


async def change(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    data: TicketUpdate,
    if_match: str | None,
) -> TicketRead:
    """Change the fields ``data`` sets on the live ticket ``ref`` names (404 unless the
    caller may see it).

    On a request's first run in a session that has done nothing yet, the ticket is read
    without its lock and the change written on condition that it is still at that version
    and no reaction to it has anything to do (:func:`changes.apply_on_condition`): one
    statement, its own transaction. A request that loses that race runs again, and a change
    with reactions to run takes the ticket's lock.
    """
    fields = data.model_dump(exclude_unset=True)
    condition = changes.unlocked_condition()
    if condition is not None and not retried(session) and untouched(session):
        ticket_id, number = parse_ref(ref)
        async with reads.one_connection():  # the ticket's read and its write
            row = await repo.read_ticket(
                visibility(principal), ticket_id=ticket_id, number=number, condition=condition
            )
            if row is None:
                raise NotFound(f"No ticket {ref!r}.")
            if row["condition"]:
                ticket = repo.ticket_of_row(row)
                check_if_match(ticket, if_match)
                written = await changes.apply_on_condition(
                    session, principal, ticket, fields, condition
                )
                return TicketRead.from_row({**row, **written})
    ticket = await load(session, principal, ref, lock=True)
    await update_ticket(session, principal, ticket, data, if_match)
    return TicketRead.model_validate(ticket)


async def update_ticket(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    data: TicketUpdate,
    if_match: str | None,
) -> Ticket:
    check_if_match(ticket, if_match)
    await changes.apply(session, principal, ticket, data.model_dump(exclude_unset=True))
    return ticket


async def assign(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    assignee_id: uuid.UUID | None,
    if_match: str | None,
) -> Ticket:
    check_if_match(ticket, if_match)
    await changes.apply(session, principal, ticket, {"assignee_id": assignee_id})
    return ticket


async def change_tags(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    if_match: str | None = None,
) -> Ticket:
    check_if_match(ticket, if_match)
    await changes.apply(session, principal, ticket, {}, add, remove)
    return ticket


# Trash and permanent deletion


async def soft_delete(
    session: AsyncSession, principal: Principal, ticket: Ticket, if_match: str | None
) -> None:
    check_if_match(ticket, if_match)
    ticket.deleted_at = utcnow()
    ticket.version += 1
    history.record(session, principal, ticket, "deleted")
    history.publish(session, principal, ticket, Topic.TICKET_DELETED)
    await session.flush()


async def restore(session: AsyncSession, principal: Principal, ticket: Ticket) -> Ticket:
    ticket.deleted_at = None
    ticket.version += 1
    ticket.updated_at = utcnow()
    history.record(session, principal, ticket, "restored")
    history.publish(session, principal, ticket, Topic.TICKET_RESTORED)
    await session.flush()
    return ticket


async def purge(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    attachment_ids: Sequence[uuid.UUID] = (),
) -> None:
    """Delete the ticket and everything attached to it for good (live or in the trash).

    Its rows go with it (comments, events, captures, AI decisions and embeddings cascade);
    its outbox events, and those of ``attachment_ids``, keep only ids, and remembered
    responses that show it are forgotten. ``ticket.purged`` names the ticket by id only.
    """
    await idempotency_repo.forget_responses(session, ticket)
    await scrub(session, ticket.organization_id, ticket_id=ticket.id, attachment_ids=attachment_ids)
    history.publish(session, principal, ticket, Topic.TICKET_PURGED)
    await repo.purge(session, ticket)


async def count_referring(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    category_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> int:
    """How many tickets of the organization (live or in the trash) are in the category or
    belong to the team."""
    return await repo.count_referring(
        session, organization_id, category_id=category_id, team_id=team_id
    )
