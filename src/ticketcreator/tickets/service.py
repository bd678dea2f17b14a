"""Ticket behaviour: creation with numbering and idempotency, updates through the workflow,
comments, tags, watchers, links, timeline and bulk changes.

Every change writes a ``ticket_event`` row and an outbox event in the caller's transaction.
Services flush and never commit (the request's unit of work does).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import OWN_TICKETS_ONLY, Permission, Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import AppError, Forbidden, NotFound
from ticketcreator.core.outbox import emit, scrub
from ticketcreator.taxonomy import repository as taxonomy_repo
from ticketcreator.taxonomy import service as taxonomy
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.tickets import repository as repo
from ticketcreator.tickets.actors import actor_kind
from ticketcreator.tickets.cursor import decode_cursor, encode_cursor
from ticketcreator.tickets.errors import (
    BulkUpdateFailed,
    IdempotencyKeyReused,
    InvalidAssignee,
    InvalidCursor,
    InvalidQuery,
    InvalidReference,
    InvalidWatcher,
    LinkExists,
    StaleVersion,
)
from ticketcreator.tickets.models import (
    Comment,
    ExternalLink,
    Status,
    Ticket,
    TicketEvent,
    Watcher,
)
from ticketcreator.tickets.repository import Keyset, TicketFilters, Visibility
from ticketcreator.tickets.schemas import (
    BulkUpdate,
    CommentCreate,
    CommentPage,
    CommentRead,
    CommentUpdate,
    EventRead,
    LinkCreate,
    TicketCreate,
    TicketListQuery,
    TicketPage,
    TicketRead,
    TicketUpdate,
    TimelineComment,
    TimelineEvent,
    TimelineItem,
    TimelinePage,
)
from ticketcreator.tickets.workflow import check_transition

ASSIGNABLE_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})
_MAX_NUMBER = 2**31 - 1
_PAGE = 100

# Field → event kind and the outbox topic that announces it (besides ``ticket.updated``).
_KIND = {"status": "status_changed", "assignee_id": "assigned"}
_TOPIC = {"status": "ticket.status_changed", "assignee_id": "ticket.assigned"}


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


def etag(ticket: Ticket) -> str:
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
    return ticket


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


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _record(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    kind: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    *,
    internal: bool = False,
) -> TicketEvent:
    event = TicketEvent(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        actor_user_id=principal.user_id,
        actor_api_key_id=principal.api_key_id,
        actor_kind=actor_kind(principal),
        kind=kind,
        field=field,
        old=_json(old),
        new=_json(new),
        internal=internal,
        created_at=utcnow(),
    )
    session.add(event)
    return event


def _publish(
    session: AsyncSession, principal: Principal, ticket: Ticket, topic: str, **details: Any
) -> None:
    payload = {
        "ticket_id": str(ticket.id),
        "number": ticket.number,
        "key": ticket.key,
        "actor_user_id": _json(principal.user_id),
        "actor_api_key_id": _json(principal.api_key_id),
        "actor_kind": actor_kind(principal).value,
        **details,
    }
    emit(session, topic, payload, organization_id=ticket.organization_id)


async def _check_reference(
    session: AsyncSession, principal: Principal, model: type[Category] | type[Team], id_: Any
) -> None:
    if id_ is not None and not await taxonomy_repo.exists_in(
        session, model, principal.organization_id, id_
    ):
        raise InvalidReference(
            f"No {model.__tablename__} {id_} in this organization.", field=model.__tablename__
        )


async def _check_assignee(session: AsyncSession, principal: Principal, user_id: Any) -> None:
    if user_id is None:
        return
    role = await taxonomy_repo.member_role(session, principal.organization_id, user_id)
    if role not in ASSIGNABLE_ROLES:
        raise InvalidAssignee(
            "Tickets can be assigned only to owners, admins and agents of this organization.",
            assignee_id=str(user_id),
            role=role.value if role else None,
        )


# Creating


def _request_hash(data: TicketCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def purge_idempotency_keys(session: AsyncSession, *, limit: int = 5000) -> int:
    """Forget ``Idempotency-Key`` records past ``tickets.idempotency_ttl_h`` (a retry after
    that creates a new ticket anyway); at most ``limit`` per call."""
    ttl = timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    return await repo.purge_idempotency_keys(session, utcnow() - ttl, limit)


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
    if idempotency_key is None:
        return TicketRead.model_validate(await _create(session, principal, data)), False
    request_hash = _request_hash(data)
    ttl = timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    claimed = await repo.claim_idempotency_key(
        session,
        principal.organization_id,
        principal.rate_key,
        idempotency_key,
        request_hash,
        expired_before=utcnow() - ttl,
    )
    if claimed is None:
        first = await repo.find_idempotency_key(
            session, principal.organization_id, principal.rate_key, idempotency_key
        )
        if first.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was sent with a different request body; use a new key.",
            )
        return TicketRead.model_validate(first.response_body), True
    result = TicketRead.model_validate(await _create(session, principal, data))
    claimed.response_status = 201
    claimed.response_body = result.model_dump(mode="json")
    return result, False


async def _create(session: AsyncSession, principal: Principal, data: TicketCreate) -> Ticket:
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
        role = await taxonomy_repo.member_role(session, principal.organization_id, data.reporter_id)
        if role is None:
            raise InvalidReference(
                "The reporter is not a member of this organization.", field="reporter_id"
            )
    await _check_reference(session, principal, Category, data.category_id)
    await _check_reference(session, principal, Team, data.team_id)
    await _check_assignee(session, principal, data.assignee_id)
    definitions = await taxonomy_repo.custom_fields(session, principal.organization_id)
    custom_fields = taxonomy.validate_custom_fields(
        definitions, {}, data.custom_fields, creating=True
    )
    tags = await taxonomy.ensure_tags(session, principal, data.tags)
    now = utcnow()
    ticket = Ticket(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        number=await repo.allocate_number(session, principal.organization_id),
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
    language = get_settings().tickets.search_language
    ticket.search_vector = repo.new_search_document(data.title, data.description, language)
    session.add(ticket)
    await session.flush()
    snapshot = TicketRead.model_validate(ticket).model_dump(mode="json")
    _record(session, principal, ticket, "created", new=snapshot)
    _publish(session, principal, ticket, "ticket.created", snapshot=snapshot)
    return ticket


# Reading


async def get_ticket(session: AsyncSession, principal: Principal, ref: str) -> Ticket:
    return await load(session, principal, ref)


def _filters(principal: Principal, query: TicketListQuery) -> TicketFilters:
    assignee_ids: list[uuid.UUID] = []
    unassigned = False
    for value in query.assignee:
        if value == "none":
            unassigned = True
        elif value == "me":
            assignee_ids.append(principal.user_id or uuid.UUID(int=0))
        else:
            try:
                assignee_ids.append(uuid.UUID(value))
            except ValueError:
                raise InvalidQuery(
                    f"assignee {value!r} is neither a user id, `me` nor `none`."
                ) from None
    if query.deleted and not principal.can(Permission.TICKETS_DELETE):
        raise Forbidden(
            "Listing deleted tickets needs `tickets:delete`.",
            required_permission=Permission.TICKETS_DELETE.value,
        )
    if query.sla and not principal.can(Permission.TICKETS_WRITE):
        raise Forbidden(
            "Filtering by SLA state needs `tickets:write`.",
            required_permission=Permission.TICKETS_WRITE.value,
        )
    return TicketFilters(
        status=query.status,
        priority=query.priority,
        type=query.type,
        source=query.source,
        category_id=query.category_id,
        team_id=query.team_id,
        reporter_id=query.reporter_id,
        assignee_id=assignee_ids,
        unassigned=unassigned,
        tag=query.tag,
        created_after=query.created_after,
        created_before=query.created_before,
        updated_after=query.updated_after,
        updated_before=query.updated_before,
        q=query.q,
        deleted=query.deleted,
        sla=query.sla,
    )


def _keyset(query: TicketListQuery) -> Keyset:
    sort = query.sort or ("-relevance" if query.q else "-created_at")
    field = sort.removeprefix("-")
    if field == "relevance" and not query.q:
        raise InvalidQuery("Sorting by relevance needs a search (`q`).")
    if query.cursor is None:
        return Keyset(field=field, descending=sort.startswith("-"))
    position = decode_cursor(query.cursor)
    try:
        if position["s"] != sort:
            raise InvalidCursor("The cursor belongs to a list with another sort order.")
        return Keyset(
            field=field,
            descending=sort.startswith("-"),
            value=position["v"],
            after_id=uuid.UUID(position["i"]),
            window=_window(position.get("w")) if field == "relevance" else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this API issued.") from exc


def _window(value: Any) -> tuple[datetime, uuid.UUID] | None:
    """The relevance window of a cursor: ``[created_at, id]`` of its oldest candidate."""
    if value is None:  # a cursor issued before relevance windows: rank a fresh window
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("bad window")
    start_at = datetime.fromisoformat(value[0])
    if start_at.tzinfo is None:
        raise ValueError("naive window")
    return start_at, uuid.UUID(value[1])


def _sort_value(field: str, ticket: Ticket, rank: float | None) -> Any:
    if field == "relevance":
        return rank
    if field == "due_at":
        return ticket.due_at.isoformat() if ticket.due_at else "infinity"
    value = getattr(ticket, field)
    return _json(value)


async def list_tickets(
    session: AsyncSession, principal: Principal, query: TicketListQuery
) -> TicketPage:
    settings = get_settings().tickets
    limit = min(query.limit or settings.page_size_default, settings.page_size_max)
    keyset = _keyset(query)
    listing = await repo.list_tickets(
        session,
        visibility(principal),
        _filters(principal, query),
        keyset,
        limit + 1,
        settings.search_language,
        settings.search_candidates,
    )
    rows = listing.rows
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last, rank = rows[-1]
        position = {
            "s": query.sort or ("-relevance" if query.q else "-created_at"),
            "v": _sort_value(keyset.field, last, rank),
            "i": str(last.id),
        }
        if listing.window is not None:
            # the relevance window: later pages rank the candidates this page ranked
            position["w"] = [listing.window[0].isoformat(), str(listing.window[1])]
        next_cursor = encode_cursor(position)
    return TicketPage(
        items=[TicketRead.model_validate(ticket) for ticket, _ in rows], next_cursor=next_cursor
    )


# Changing


async def _apply(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    changes: dict[str, Any],
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Validate, then apply ``changes`` (field → new value) and tag changes to a locked ticket.

    Writes one event per changed field, bumps the version and announces the change; returns
    the changes (empty when nothing differed).
    """
    if "status" in changes and changes["status"] != ticket.status:
        check_transition(ticket.status, changes["status"])
    if "category_id" in changes:
        await _check_reference(session, principal, Category, changes["category_id"])
    if "team_id" in changes:
        await _check_reference(session, principal, Team, changes["team_id"])
    if "assignee_id" in changes and changes["assignee_id"] != ticket.assignee_id:
        await _check_assignee(session, principal, changes["assignee_id"])
    if "custom_fields" in changes:
        definitions = await taxonomy_repo.custom_fields(session, principal.organization_id)
        changes["custom_fields"] = taxonomy.validate_custom_fields(
            definitions, ticket.custom_fields, changes["custom_fields"], creating=False
        )
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
            applied.append({"field": field, "old": _json(old), "new": _json(new)})
        setattr(ticket, field, new)
        if field == "status":
            _enter_status(ticket, new)
    current = {tag.name for tag in ticket.tags}
    added = sorted(set(add_tags) - current)
    removed = sorted(set(remove_tags) & current)
    if added:
        ticket.tags.extend(await taxonomy.ensure_tags(session, principal, added))
    if removed:
        ticket.tags[:] = [tag for tag in ticket.tags if tag.name not in removed]
    applied += [{"field": "tags", "old": None, "new": name} for name in added]
    applied += [{"field": "tags", "old": name, "new": None} for name in removed]
    if not applied:
        return applied
    ticket.version += 1
    ticket.updated_at = utcnow()
    for change in applied:
        if change["field"] == "tags":
            kind = "tagged" if change["new"] else "untagged"
        else:
            kind = _KIND.get(change["field"], "updated")
        _record(session, principal, ticket, kind, change["field"], change["old"], change["new"])
    await session.flush()
    if {"title", "description"} & changes.keys():
        await repo.refresh_search(session, ticket.id, get_settings().tickets.search_language)
    _publish(session, principal, ticket, "ticket.updated", changes=applied, version=ticket.version)
    for change in applied:
        topic = _TOPIC.get(change["field"])
        if topic:
            _publish(session, principal, ticket, topic, old=change["old"], new=change["new"])
    return applied


def _enter_status(ticket: Ticket, status: Status) -> None:
    now = utcnow()
    if status is Status.RESOLVED:
        ticket.resolved_at = now
        ticket.closed_at = None
    elif status is Status.CLOSED:
        ticket.closed_at = now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None


async def update_ticket(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    data: TicketUpdate,
    if_match: str | None,
) -> Ticket:
    ticket = await load(session, principal, ref, lock=True)
    check_if_match(ticket, if_match)
    await _apply(session, principal, ticket, data.model_dump(exclude_unset=True))
    return ticket


async def assign(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    assignee_id: uuid.UUID | None,
    if_match: str | None,
) -> Ticket:
    ticket = await load(session, principal, ref, lock=True)
    check_if_match(ticket, if_match)
    await _apply(session, principal, ticket, {"assignee_id": assignee_id})
    return ticket


async def change_tags(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    if_match: str | None = None,
) -> Ticket:
    ticket = await load(session, principal, ref, lock=True)
    check_if_match(ticket, if_match)
    await _apply(session, principal, ticket, {}, add, remove)
    return ticket


async def bulk_update(
    session: AsyncSession, principal: Principal, data: BulkUpdate
) -> list[Ticket]:
    """Apply the same changes to every listed ticket, all or nothing.

    Tickets are locked in id order (no deadlock between concurrent bulk updates). Every
    ticket is tried; if any fails, nothing is applied and each failure is reported.
    """
    limit = get_settings().tickets.bulk_max
    if len(data.tickets) > limit:
        raise BulkUpdateFailed(f"At most {limit} tickets per bulk update.", errors=[])
    refs = list(dict.fromkeys(data.tickets))
    parsed: dict[str, tuple[uuid.UUID | None, int | None]] = {}
    errors: list[dict[str, Any]] = []
    for ref in refs:
        try:
            parsed[ref] = parse_ref(ref)
        except NotFound as exc:
            errors.append(_bulk_error(ref, exc))
    tickets = await repo.lock_tickets(
        session,
        visibility(principal),
        [i for i, _ in parsed.values() if i is not None],
        [n for _, n in parsed.values() if n is not None],
    )
    by_id = {t.id: t for t in tickets}
    by_number = {t.number: t for t in tickets}
    changes = data.changes.model_dump(exclude_unset=True, exclude={"add_tags", "remove_tags"})
    updated: list[Ticket] = []
    for ref, (ticket_id, number) in parsed.items():
        ticket = by_id.get(ticket_id) if ticket_id else by_number.get(number or 0)
        if ticket is None:
            errors.append(_bulk_error(ref, NotFound(f"No ticket {ref!r}.")))
            continue
        try:
            await _apply(
                session,
                principal,
                ticket,
                dict(changes),
                data.changes.add_tags,
                data.changes.remove_tags,
            )
        except AppError as exc:
            errors.append(_bulk_error(ref, exc))
        updated.append(ticket)
    if errors:
        raise BulkUpdateFailed(
            f"{len(errors)} of {len(refs)} ticket(s) could not be changed; nothing was applied.",
            errors=errors,
        )
    return updated


def _bulk_error(ref: str, error: AppError) -> dict[str, Any]:
    return {
        "ticket": ref,
        "status": error.status,
        "type": error.type_uri(),
        "detail": error.detail,
        **error.extensions,
    }


async def soft_delete(
    session: AsyncSession, principal: Principal, ref: str, if_match: str | None
) -> None:
    ticket = await load(session, principal, ref, lock=True)
    check_if_match(ticket, if_match)
    ticket.deleted_at = utcnow()
    ticket.version += 1
    _record(session, principal, ticket, "deleted")
    _publish(session, principal, ticket, "ticket.deleted")
    await session.flush()


async def restore(session: AsyncSession, principal: Principal, ref: str) -> Ticket:
    ticket = await load(session, principal, ref, lock=True, deleted=True)
    ticket.deleted_at = None
    ticket.version += 1
    ticket.updated_at = utcnow()
    _record(session, principal, ticket, "restored")
    _publish(session, principal, ticket, "ticket.restored")
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
    await repo.forget_responses(session, ticket)
    await scrub(session, ticket.organization_id, ticket_id=ticket.id, attachment_ids=attachment_ids)
    _publish(session, principal, ticket, "ticket.purged")
    await repo.purge(session, ticket)


# Comments


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(position["t"]), uuid.UUID(position["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this API issued.") from exc


def _position(at: datetime, id_: uuid.UUID) -> str:
    return encode_cursor({"t": at.isoformat(), "i": str(id_)})


async def list_comments(
    session: AsyncSession, principal: Principal, ref: str, cursor: str | None, limit: int
) -> CommentPage:
    ticket = await load(session, principal, ref)
    rows = await repo.list_comments(
        session, ticket, visibility(principal), _after(cursor), limit + 1
    )
    next_cursor = (
        _position(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return CommentPage(
        items=[CommentRead.model_validate(c) for c in rows[:limit]], next_cursor=next_cursor
    )


async def add_comment(
    session: AsyncSession, principal: Principal, ref: str, data: CommentCreate
) -> Comment:
    if data.internal and not principal.can(Permission.COMMENTS_INTERNAL):
        raise Forbidden(
            "Internal notes need `comments:internal`.",
            required_permission=Permission.COMMENTS_INTERNAL.value,
        )
    ticket = await load(session, principal, ref)
    now = utcnow()
    comment = Comment(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        author_id=principal.user_id,
        author_api_key_id=principal.api_key_id,
        body=data.body,
        internal=data.internal,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    _record(
        session, principal, ticket, "commented", "comment", None, comment.id, internal=data.internal
    )
    await session.flush()
    if not comment.internal:
        await repo.refresh_search(session, ticket.id, get_settings().tickets.search_language)
    _publish(
        session,
        principal,
        ticket,
        "ticket.commented",
        comment_id=str(comment.id),
        internal=comment.internal,
    )
    return comment


async def _own_comment(
    session: AsyncSession, principal: Principal, ref: str, comment_id: uuid.UUID, moderate: bool
) -> tuple[Ticket, Comment]:
    ticket = await load(session, principal, ref)
    comment = await repo.get_comment(session, ticket, visibility(principal), comment_id)
    if comment is None:
        raise NotFound("No such comment on this ticket.")
    author = principal.is_author(comment.author_id, comment.author_api_key_id)
    if not author and not (moderate and principal.can(Permission.TICKETS_WRITE)):
        raise Forbidden("Only the author may change this comment.")
    return ticket, comment


async def edit_comment(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    comment_id: uuid.UUID,
    data: CommentUpdate,
) -> Comment:
    ticket, comment = await _own_comment(session, principal, ref, comment_id, moderate=False)
    if comment.body == data.body:
        return comment
    old = comment.body
    comment.body = data.body
    comment.edited_at = comment.updated_at = utcnow()
    _record(
        session,
        principal,
        ticket,
        "comment_edited",
        f"comment:{comment.id}",
        old,
        data.body,
        internal=comment.internal,
    )
    await session.flush()
    if not comment.internal:
        await repo.refresh_search(session, ticket.id, get_settings().tickets.search_language)
    _publish(
        session,
        principal,
        ticket,
        "ticket.comment_updated",
        comment_id=str(comment.id),
        internal=comment.internal,
    )
    return comment


async def delete_comment(
    session: AsyncSession, principal: Principal, ref: str, comment_id: uuid.UUID
) -> None:
    """The author, or anyone who may edit tickets, deletes a comment (kept, but hidden).

    The timeline keeps that it was deleted, not what it said: the event carries no text, and
    the text of its earlier edits is removed from their events.
    """
    ticket, comment = await _own_comment(session, principal, ref, comment_id, moderate=True)
    comment.deleted_at = utcnow()
    field = f"comment:{comment.id}"
    await repo.forget_event_values(session, ticket, field)
    _record(
        session, principal, ticket, "comment_deleted", field, None, None, internal=comment.internal
    )
    await session.flush()
    if not comment.internal:
        await repo.refresh_search(session, ticket.id, get_settings().tickets.search_language)
    _publish(
        session,
        principal,
        ticket,
        "ticket.comment_deleted",
        comment_id=str(comment.id),
        internal=comment.internal,
    )


async def timeline(
    session: AsyncSession, principal: Principal, ref: str, cursor: str | None, limit: int
) -> TimelinePage:
    ticket = await load(session, principal, ref)
    rows = await repo.timeline(session, ticket, visibility(principal), _after(cursor), limit + 1)
    items: list[TimelineItem] = [
        TimelineComment(at=row.created_at, comment=CommentRead.model_validate(row))
        if isinstance(row, Comment)
        else TimelineEvent(at=row.created_at, event=EventRead.model_validate(row))
        for row in rows[:limit]
    ]
    next_cursor = (
        _position(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return TimelinePage(items=items, next_cursor=next_cursor)


# Watchers


async def _watch_target(
    session: AsyncSession, principal: Principal, ref: str, user_id: uuid.UUID
) -> Ticket:
    """The ticket, once the caller may change who watches it for ``user_id``.

    Agents manage every watcher; reporters may (un)watch their own tickets themselves.
    """
    ticket = await load(session, principal, ref)
    itself = user_id == principal.user_id and principal.can(Permission.TICKETS_CREATE)
    if not (itself or principal.can(Permission.TICKETS_WRITE)):
        raise Forbidden(
            "Changing who watches a ticket needs `tickets:write`.",
            required_permission=Permission.TICKETS_WRITE.value,
        )
    return ticket


async def list_watchers(session: AsyncSession, principal: Principal, ref: str) -> Sequence[Watcher]:
    ticket = await load(session, principal, ref)
    return await repo.watchers(session, ticket)


async def add_watcher(
    session: AsyncSession, principal: Principal, ref: str, user_id: uuid.UUID
) -> Sequence[Watcher]:
    ticket = await _watch_target(session, principal, ref, user_id)
    role = await taxonomy_repo.member_role(session, principal.organization_id, user_id)
    if role is None or (role in OWN_TICKETS_ONLY and ticket.reporter_id != user_id):
        raise InvalidWatcher(
            "Watchers must be members who can see the ticket "
            "(a reporter can watch only their own tickets).",
            user_id=str(user_id),
        )
    if await repo.add_watcher(session, ticket, user_id):
        _record(session, principal, ticket, "watcher_added", "watchers", None, user_id)
        _publish(session, principal, ticket, "ticket.watchers_changed", added=str(user_id))
    return await repo.watchers(session, ticket)


async def remove_watcher(
    session: AsyncSession, principal: Principal, ref: str, user_id: uuid.UUID
) -> None:
    ticket = await _watch_target(session, principal, ref, user_id)
    if not await repo.remove_watcher(session, ticket, user_id):
        raise NotFound("That user does not watch this ticket.")
    _record(session, principal, ticket, "watcher_removed", "watchers", user_id, None)
    _publish(session, principal, ticket, "ticket.watchers_changed", removed=str(user_id))


# External links


async def list_links(
    session: AsyncSession, principal: Principal, ref: str
) -> Sequence[ExternalLink]:
    ticket = await load(session, principal, ref)
    return await repo.links(session, ticket)


async def add_link(
    session: AsyncSession, principal: Principal, ref: str, data: LinkCreate
) -> ExternalLink:
    ticket = await load(session, principal, ref)
    existing = await repo.find_link(
        session, ticket.organization_id, data.provider, data.external_id
    )
    if existing is not None:
        raise LinkExists(
            f"{data.provider} issue {data.external_id!r} is already linked.",
            ticket_id=str(existing.ticket_id),
        )
    link = ExternalLink(
        id=uuid.uuid4(),
        organization_id=ticket.organization_id,
        ticket_id=ticket.id,
        provider=data.provider,
        external_id=data.external_id,
        url=data.url,
        created_at=utcnow(),
    )
    session.add(link)
    details = {"link_id": str(link.id), **data.model_dump()}
    _record(session, principal, ticket, "linked", "external_links", None, details)
    _publish(session, principal, ticket, "ticket.linked", **details)
    await session.flush()
    return link


async def remove_link(
    session: AsyncSession, principal: Principal, ref: str, link_id: uuid.UUID
) -> None:
    ticket = await load(session, principal, ref)
    link = await repo.get_link(session, ticket, link_id)
    if link is None:
        raise NotFound("No such link on this ticket.")
    details = {
        "link_id": str(link.id),
        "provider": link.provider,
        "external_id": link.external_id,
        "url": link.url,
    }
    await session.delete(link)
    _record(session, principal, ticket, "unlinked", "external_links", details, None)
    _publish(session, principal, ticket, "ticket.unlinked", **details)
    await session.flush()
