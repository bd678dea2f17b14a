"""Every ticket query. Each one is filtered by the caller's organization (and, for reporters,
by the reporter), so no code path can reach another tenant's rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    REAL,
    ColumnElement,
    DateTime,
    Select,
    String,
    Subquery,
    Uuid,
    and_,
    cast,
    delete,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload, with_expression

from ticketcreator.core.db import utcnow
from ticketcreator.taxonomy.models import Tag
from ticketcreator.tickets.models import (
    Comment,
    ExternalLink,
    IdempotencyKey,
    Priority,
    Source,
    Status,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketType,
    Watcher,
    ticket_tag,
)


@dataclass(frozen=True)
class Visibility:
    """Which tickets and comments a caller may see."""

    organization_id: uuid.UUID
    own_only: bool  # reporters: only tickets they reported
    user_id: uuid.UUID | None
    internal: bool  # may see internal comments

    @classmethod
    def whole(cls, organization_id: uuid.UUID) -> Visibility:
        """Every ticket and comment of the organization (workers acting for it)."""
        return cls(organization_id=organization_id, own_only=False, user_id=None, internal=True)

    def tickets(self) -> ColumnElement[bool]:
        """The one rule of which tickets a caller may see or hear of: every query that lists,
        counts or names tickets for a caller (lists, search, similar tickets, stored AI
        outputs, attachments of captures) filters by it."""
        condition = Ticket.organization_id == self.organization_id
        if self.own_only:
            mine = Ticket.reporter_id == self.user_id if self.user_id else false()
            condition = and_(condition, mine)
        return condition


@dataclass(frozen=True)
class TicketFilters:
    status: Sequence[Status] = ()
    priority: Sequence[Priority] = ()
    type: Sequence[TicketType] = ()
    source: Sequence[Source] = ()
    category_id: Sequence[uuid.UUID] = ()
    team_id: Sequence[uuid.UUID] = ()
    reporter_id: Sequence[uuid.UUID] = ()
    assignee_id: Sequence[uuid.UUID] = ()
    unassigned: bool = False
    tag: Sequence[str] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    q: str | None = None
    deleted: bool = False
    sla: str | None = None


@dataclass(frozen=True)
class Keyset:
    """The sort of a list and, after the first page, the position to continue from."""

    field: str
    descending: bool
    value: Any = None
    after_id: uuid.UUID | None = None
    # Relevance only: (created_at, id) of the oldest candidate the first page ranked; later
    # pages rank the same candidates (see :func:`list_tickets`).
    window: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class TicketRows:
    """One page of tickets with their rank (when searching), and the relevance window."""

    rows: list[tuple[Ticket, float | None]]
    window: tuple[datetime, uuid.UUID] | None = None


def _with_tags(query: Select[Ticket]) -> Select[Ticket]:
    return query.options(selectinload(Ticket.tags))


# A page's tag names in the page's own query (an IN-list second query costs more than the
# page itself to compile and run).
_TAG_NAMES = with_expression(
    Ticket.listed_tag_names,
    select(func.coalesce(func.array_agg(Tag.name), literal([], ARRAY(String))))
    .select_from(ticket_tag.join(Tag, Tag.id == ticket_tag.c.tag_id))
    .where(ticket_tag.c.ticket_id == Ticket.id)
    .correlate(Ticket)
    .scalar_subquery(),
)


async def allocate_number(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """The organization's next ticket number.

    The counter row stays locked until the transaction ends, so concurrent creates queue here
    and a rolled-back create gives its number back: numbers have neither gaps nor duplicates.
    """
    statement = (
        insert(TicketCounter)
        .values(organization_id=organization_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.organization_id],
            set_={"last_number": TicketCounter.last_number + 1},
        )
        .returning(TicketCounter.last_number)
    )
    return int((await session.execute(statement)).scalar_one())


def new_search_document(title: str, description: str, language: str) -> ColumnElement[Any]:
    """The search document of a new ticket (no comments or captures yet), computed by the
    INSERT itself: what :func:`refresh_search` would compute, one statement sooner."""
    config = cast(literal(language), REGCONFIG)
    return func.setweight(func.to_tsvector(config, title), literal_column("'A'")).op("||")(
        func.setweight(func.to_tsvector(config, description), literal_column("'B'"))
    )


async def refresh_search(session: AsyncSession, ticket_id: uuid.UUID, language: str) -> None:
    """Recompute the ticket's search document: title (A), description (B), public comments (C),
    and the transcripts and screenshot text of its captures (D)."""
    await session.execute(
        text(
            "UPDATE ticket SET search_vector ="
            " setweight(to_tsvector(CAST(:cfg AS regconfig), title), 'A')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), description), 'B')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), coalesce(("
            "SELECT string_agg(c.body, ' ' ORDER BY c.created_at) FROM ticket_comment c"
            " WHERE c.ticket_id = ticket.id AND c.deleted_at IS NULL AND NOT c.internal"
            "), '')), 'C')"
            " || setweight(to_tsvector(CAST(:cfg AS regconfig), coalesce(("
            "SELECT string_agg(t.text, ' ' ORDER BY t.created_at) FROM attachment_text t"
            " JOIN capture_attachment ca ON ca.attachment_id = t.attachment_id"
            " JOIN capture cp ON cp.id = ca.capture_id"
            " WHERE cp.ticket_id = ticket.id AND t.status = 'ready'"
            "), '')), 'D') WHERE id = :id"
        ),
        {"cfg": language, "id": ticket_id},
    )


async def get_ticket(
    session: AsyncSession,
    visibility: Visibility,
    *,
    ticket_id: uuid.UUID | None = None,
    number: int | None = None,
    deleted: bool | None = False,
    lock: bool = False,
) -> Ticket | None:
    """One visible ticket by id or number: live ones, the trash (``deleted``) or either (None)."""
    query = select(Ticket).where(visibility.tickets())
    query = (
        query.where(Ticket.id == ticket_id) if ticket_id else query.where(Ticket.number == number)
    )
    query = query.where(Ticket.deleted_at.is_not(None) if deleted else Ticket.deleted_at.is_(None))
    if lock:
        query = query.with_for_update(of=Ticket)
    # One row per tag in the same query: no second round trip for one ticket.
    return (await session.scalars(query.options(joinedload(Ticket.tags)))).unique().first()


async def lock_tickets(
    session: AsyncSession,
    visibility: Visibility,
    ids: Sequence[uuid.UUID],
    numbers: Sequence[int],
) -> list[Ticket]:
    """The visible live tickets among ``ids``/``numbers``, locked in id order (no deadlocks)."""
    query = (
        select(Ticket)
        .where(
            visibility.tickets(),
            Ticket.deleted_at.is_(None),
            or_(Ticket.id.in_(ids), Ticket.number.in_(numbers)),
        )
        .order_by(Ticket.id)
        .with_for_update(of=Ticket)
    )
    return list((await session.scalars(_with_tags(query))).all())


async def visible_ids(
    session: AsyncSession, visibility: Visibility, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``ids`` that are live tickets the caller may see."""
    if not ids:
        return set()
    query = select(Ticket.id).where(
        visibility.tickets(), Ticket.deleted_at.is_(None), Ticket.id.in_(ids)
    )
    return set((await session.scalars(query)).all())


def search_query(q: str, language: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(cast(literal(language), REGCONFIG), q)


def _sort_expression(field: str, rank: ColumnElement[Any] | None) -> ColumnElement[Any]:
    if field == "relevance":
        assert rank is not None
        return rank
    if field == "due_at":
        return func.coalesce(Ticket.due_at, cast(literal("infinity"), DateTime(timezone=True)))
    column: ColumnElement[Any] = getattr(Ticket, field)
    return column


def _cursor_value(field: str, value: Any) -> ColumnElement[Any]:
    if field in ("created_at", "updated_at", "due_at"):
        return cast(literal(str(value)), DateTime(timezone=True))
    if field == "relevance":
        return cast(literal(float(value)), REAL)
    if field == "priority":
        return literal(Priority(value), Ticket.priority.type)
    return literal(int(value))


async def list_tickets(
    session: AsyncSession,
    visibility: Visibility,
    filters: TicketFilters,
    keyset: Keyset,
    limit: int,
    language: str,
    candidates: int,
) -> TicketRows:
    """One page of tickets with their search rank (when searching).

    Sorting by relevance ranks a bounded candidate window, not every match: the ``candidates``
    newest matches by ``(created_at, id)``. Ranking every match of a common word meant running
    ``ts_rank`` over hundreds of thousands of rows before the page was cut; the window keeps a
    search to one index walk and ``candidates`` rank computations, whatever the word.

    Trade-off: a match older than the newest ``candidates`` matches is never returned, however
    good it is (an old ticket with the words in its title loses to recent tickets that only
    mention them in a comment). Narrowing the search (more words, a filter, ``created_before``)
    brings older tickets into the window; the other sorts still return every match.

    The first page returns the window's oldest ``(created_at, id)`` and the cursor carries it,
    so later pages rank the same candidates (those at or after it, oldest first, at most
    ``candidates``): tickets created meanwhile do not push candidates out, so pages neither
    skip nor repeat. ``rank`` is exact ``real`` and ``(rank, id)`` is a strict total order.
    """
    conditions: list[ColumnElement[bool]] = [
        visibility.tickets(),
        Ticket.deleted_at.is_not(None) if filters.deleted else Ticket.deleted_at.is_(None),
    ]
    equal_to: tuple[tuple[Any, Sequence[Any]], ...] = (
        (Ticket.status, filters.status),
        (Ticket.priority, filters.priority),
        (Ticket.type, filters.type),
        (Ticket.source, filters.source),
        (Ticket.category_id, filters.category_id),
        (Ticket.team_id, filters.team_id),
        (Ticket.reporter_id, filters.reporter_id),
    )
    for column, values in equal_to:
        if values:
            conditions.append(column.in_(values))
    assignee: list[ColumnElement[bool]] = []
    if filters.assignee_id:
        assignee.append(Ticket.assignee_id.in_(filters.assignee_id))
    if filters.unassigned:
        assignee.append(Ticket.assignee_id.is_(None))
    if assignee:
        conditions.append(or_(*assignee))
    if filters.tag:
        conditions.append(
            Ticket.id.in_(
                select(ticket_tag.c.ticket_id)
                .join(Tag, Tag.id == ticket_tag.c.tag_id)
                .where(Tag.organization_id == visibility.organization_id, Tag.name.in_(filters.tag))
            )
        )
    if filters.sla:
        from ticketcreator.routing.models import TicketSlaMetric

        conditions.append(
            Ticket.id.in_(
                select(TicketSlaMetric.ticket_id).where(
                    TicketSlaMetric.organization_id == visibility.organization_id,
                    TicketSlaMetric.state == filters.sla,
                )
            )
        )
    ranges: tuple[tuple[Any, datetime | None, bool], ...] = (
        (Ticket.created_at, filters.created_after, True),
        (Ticket.created_at, filters.created_before, False),
        (Ticket.updated_at, filters.updated_after, True),
        (Ticket.updated_at, filters.updated_before, False),
    )
    for column, bound, after in ranges:
        if bound is not None:
            conditions.append(column >= bound if after else column < bound)
    rank: ColumnElement[Any] | None = None
    if filters.q:
        tsquery = search_query(filters.q, language)
        conditions.append(Ticket.search_vector.op("@@")(tsquery))
        if keyset.field == "relevance":
            return await _ranked(session, conditions, tsquery, keyset, limit, candidates)
        rank = func.ts_rank(Ticket.search_vector, tsquery)
    sort = _sort_expression(keyset.field, rank)
    if keyset.after_id is not None:
        position = tuple_(sort, Ticket.id)
        bound_position = tuple_(
            _cursor_value(keyset.field, keyset.value), literal(keyset.after_id, Uuid)
        )
        conditions.append(
            position < bound_position if keyset.descending else position > bound_position
        )
    order = (sort.desc(), Ticket.id.desc()) if keyset.descending else (sort.asc(), Ticket.id.asc())
    rank_column = rank.label("rank") if rank is not None else literal(None, REAL).label("rank")
    query = (
        select(Ticket, rank_column)
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .options(_TAG_NAMES)
    )
    rows = await session.execute(query)
    return TicketRows([(row[0], row[1]) for row in rows.all()])


def _rank_order(rows: Subquery, descending: bool) -> tuple[ColumnElement[Any], ...]:
    if descending:
        return rows.c.rank.desc(), rows.c.id.desc()
    return rows.c.rank.asc(), rows.c.id.asc()


async def _ranked(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    tsquery: ColumnElement[Any],
    keyset: Keyset,
    limit: int,
    candidates: int,
) -> TicketRows:
    """A relevance page: rank the candidate window, cut the page, then load its tickets."""
    window = select(Ticket.id, Ticket.created_at, Ticket.search_vector).where(*conditions)
    if keyset.window is None:
        window = window.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    else:
        start_at, start_id = keyset.window
        start = tuple_(literal(start_at, DateTime(timezone=True)), literal(start_id, Uuid))
        window = window.where(tuple_(Ticket.created_at, Ticket.id) >= start).order_by(
            Ticket.created_at.asc(), Ticket.id.asc()
        )
    matches = window.limit(candidates).subquery("candidates")
    oldest = (matches.c.created_at.asc(), matches.c.id.asc())
    ranked = select(
        matches.c.id,
        func.ts_rank(matches.c.search_vector, tsquery).label("rank"),
        func.first_value(matches.c.created_at).over(order_by=oldest).label("window_at"),
        func.first_value(matches.c.id).over(order_by=oldest).label("window_id"),
    ).subquery("ranked")
    page = select(ranked)
    if keyset.after_id is not None:
        position = tuple_(ranked.c.rank, ranked.c.id)
        bound = tuple_(_cursor_value("relevance", keyset.value), literal(keyset.after_id, Uuid))
        page = page.where(position < bound if keyset.descending else position > bound)
    cut = page.order_by(*_rank_order(ranked, keyset.descending)).limit(limit).subquery("page")
    query = (
        select(Ticket, cut.c.rank, cut.c.window_at, cut.c.window_id)
        .join(cut, Ticket.id == cut.c.id)
        .order_by(*_rank_order(cut, keyset.descending))
        .options(_TAG_NAMES)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return TicketRows([], keyset.window)
    window_start = keyset.window or (rows[0][2], rows[0][3])
    return TicketRows([(row[0], row[1]) for row in rows], window_start)


async def forget_responses(session: AsyncSession, ticket: Ticket) -> None:
    """Delete the remembered responses (``Idempotency-Key``) that show the ticket: its
    creation and captures sent with it."""
    body = IdempotencyKey.response_body
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.organization_id == ticket.organization_id,
            or_(
                body["id"].astext == str(ticket.id),
                body["ticket_id"].astext == str(ticket.id),
            ),
        )
    )


async def purge(session: AsyncSession, ticket: Ticket) -> None:
    await session.execute(
        delete(Ticket).where(
            Ticket.id == ticket.id, Ticket.organization_id == ticket.organization_id
        )
    )


# Comments and timeline


def _visible_comments(ticket: Ticket, visibility: Visibility) -> list[ColumnElement[bool]]:
    conditions = [
        Comment.ticket_id == ticket.id,
        Comment.organization_id == visibility.organization_id,
        Comment.deleted_at.is_(None),
    ]
    if not visibility.internal:
        conditions.append(Comment.internal.is_(False))
    return conditions


async def get_comment(
    session: AsyncSession, ticket: Ticket, visibility: Visibility, comment_id: uuid.UUID
) -> Comment | None:
    return (
        await session.scalars(
            select(Comment).where(Comment.id == comment_id, *_visible_comments(ticket, visibility))
        )
    ).first()


async def list_comments(
    session: AsyncSession,
    ticket: Ticket,
    visibility: Visibility,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Comment]:
    query = select(Comment).where(*_visible_comments(ticket, visibility))
    if after is not None:
        query = query.where(tuple_(Comment.created_at, Comment.id) > tuple_(*after))
    return (
        await session.scalars(query.order_by(Comment.created_at, Comment.id).limit(limit))
    ).all()


async def timeline(
    session: AsyncSession,
    ticket: Ticket,
    visibility: Visibility,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[TicketEvent | Comment]:
    """Events and comments of a ticket, oldest first (a comment stands for its own event)."""
    event_conditions = [
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.organization_id == visibility.organization_id,
        TicketEvent.kind != "commented",
    ]
    if not visibility.internal:
        event_conditions.append(TicketEvent.internal.is_(False))
    events = select(literal("event").label("source"), TicketEvent.id, TicketEvent.created_at).where(
        *event_conditions
    )
    comments = select(literal("comment").label("source"), Comment.id, Comment.created_at).where(
        *_visible_comments(ticket, visibility)
    )
    merged = union_all(events, comments).subquery()
    query = select(merged.c.source, merged.c.id)
    if after is not None:
        query = query.where(tuple_(merged.c.created_at, merged.c.id) > tuple_(*after))
    rows = (
        await session.execute(query.order_by(merged.c.created_at, merged.c.id).limit(limit))
    ).all()
    event_ids = [row.id for row in rows if row.source == "event"]
    comment_ids = [row.id for row in rows if row.source == "comment"]
    loaded: dict[uuid.UUID, TicketEvent | Comment] = {}
    if event_ids:
        loaded.update(
            (e.id, e)
            for e in await session.scalars(select(TicketEvent).where(TicketEvent.id.in_(event_ids)))
        )
    if comment_ids:
        loaded.update(
            (c.id, c)
            for c in await session.scalars(select(Comment).where(Comment.id.in_(comment_ids)))
        )
    return [loaded[row.id] for row in rows]


async def forget_event_values(session: AsyncSession, ticket: Ticket, field: str) -> None:
    """Drop the old and new values of the ticket's events about ``field`` (keep that they
    happened)."""
    await session.execute(
        update(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.organization_id == ticket.organization_id,
            TicketEvent.field == field,
        )
        .values(old=None, new=None)
    )


# Watchers and links


async def watchers(session: AsyncSession, ticket: Ticket) -> Sequence[Watcher]:
    return (
        await session.scalars(
            select(Watcher).where(Watcher.ticket_id == ticket.id).order_by(Watcher.created_at)
        )
    ).all()


async def add_watcher(session: AsyncSession, ticket: Ticket, user_id: uuid.UUID) -> bool:
    """Add the watcher; False if they already watched."""
    result = await session.execute(
        insert(Watcher)
        .values(ticket_id=ticket.id, user_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(Watcher.user_id)
    )
    return result.first() is not None


async def remove_watcher(session: AsyncSession, ticket: Ticket, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Watcher)
        .where(Watcher.ticket_id == ticket.id, Watcher.user_id == user_id)
        .returning(Watcher.user_id)
    )
    return result.first() is not None


async def links(session: AsyncSession, ticket: Ticket) -> Sequence[ExternalLink]:
    return (
        await session.scalars(
            select(ExternalLink)
            .where(
                ExternalLink.ticket_id == ticket.id,
                ExternalLink.organization_id == ticket.organization_id,
            )
            .order_by(ExternalLink.created_at, ExternalLink.id)
        )
    ).all()


async def find_link(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, external_id: str
) -> ExternalLink | None:
    return (
        await session.scalars(
            select(ExternalLink).where(
                ExternalLink.organization_id == organization_id,
                ExternalLink.provider == provider,
                ExternalLink.external_id == external_id,
            )
        )
    ).first()


async def get_link(
    session: AsyncSession, ticket: Ticket, link_id: uuid.UUID
) -> ExternalLink | None:
    return (
        await session.scalars(
            select(ExternalLink).where(
                ExternalLink.id == link_id,
                ExternalLink.ticket_id == ticket.id,
                ExternalLink.organization_id == ticket.organization_id,
            )
        )
    ).first()


# Idempotency keys


async def claim_idempotency_key(
    session: AsyncSession,
    organization_id: uuid.UUID,
    principal: str,
    key: str,
    request_hash: str,
    expired_before: datetime,
) -> IdempotencyKey | None:
    """Take the key for this request: the new row, or None when a live request holds it.

    A concurrent request with the same key waits on the unique index until the first one
    commits (then sees its row) or rolls back (then takes the key). An expired key is reused.
    """
    table = IdempotencyKey.__table__
    statement = insert(IdempotencyKey).values(
        id=uuid.uuid4(),
        organization_id=organization_id,
        principal=principal,
        key=key,
        request_hash=request_hash,
        created_at=utcnow(),
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[
            IdempotencyKey.organization_id,
            IdempotencyKey.principal,
            IdempotencyKey.key,
        ],
        set_={
            "id": statement.excluded.id,
            "request_hash": statement.excluded.request_hash,
            "created_at": statement.excluded.created_at,
            "response_status": None,
            "response_body": None,
        },
        where=table.c.created_at < expired_before,
    ).returning(IdempotencyKey)
    return (await session.scalars(upsert)).first()


async def find_idempotency_key(
    session: AsyncSession, organization_id: uuid.UUID, principal: str, key: str
) -> IdempotencyKey:
    return (
        await session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.organization_id == organization_id,
                IdempotencyKey.principal == principal,
                IdempotencyKey.key == key,
            )
        )
    ).one()


async def purge_idempotency_keys(
    session: AsyncSession, expired_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` keys older than ``expired_before``; returns how many went."""
    oldest = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < expired_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
