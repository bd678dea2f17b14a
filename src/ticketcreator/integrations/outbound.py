"""The vendor calls of one outbound sync: create the issue (or adopt the one an interrupted
attempt created), send the fields that changed, then the public comments not sent yet.

Each vendor call that creates something is preceded by a committed record (``create_started_at``,
a :class:`CommentLink` without vendor id), so a retry looks the object up by its marker before
creating it again."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.db import utcnow
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import (
    Commenter,
    Connection,
    IssueContent,
    IssueCreator,
    IssueUpdater,
    Provider,
    RemoteIssue,
    marker,
)
from ticketcreator.integrations.connection import integration_principal, mappings_of, record
from ticketcreator.integrations.content import issue_content
from ticketcreator.integrations.models import CommentLink, Installation, TicketSync
from ticketcreator.tickets import links as ticket_links
from ticketcreator.tickets.models import ExternalLink, Ticket
from ticketcreator.tickets.schemas import LinkCreate


async def send_ticket(
    session: AsyncSession,
    provider: Provider,
    connection: Connection,
    installation: Installation,
    job: TicketSync,
    ticket: Ticket,
) -> None:
    mappings = mappings_of(provider, connection.config)
    content = await issue_content(session, ticket, mappings)
    link = await repo.link_of(session, installation.id, ticket.id)
    if link is None:
        link = await _create(session, provider, connection, installation, job, ticket, content)
    await _update(session, provider, connection, installation, link, ticket, content)
    if connection.config.sync_comments and isinstance(provider, Commenter):
        await _comments(session, provider, connection, installation, link, ticket)


async def add_link(
    session: AsyncSession,
    principal: Principal,
    installation: Installation,
    ticket: Ticket,
    remote: RemoteIssue,
) -> ExternalLink:
    """Link the ticket to its issue (recorded on the ticket's timeline), kept in sync by
    ``installation``; the caller sets the remote state."""
    link = await ticket_links.add_link(
        session,
        principal,
        ticket,
        LinkCreate(provider=installation.provider, external_id=remote.external_id, url=remote.url),
    )
    link.installation_id = installation.id
    link.last_synced_at = utcnow()
    return link


async def _create(
    session: AsyncSession,
    provider: Provider,
    connection: Connection,
    installation: Installation,
    job: TicketSync,
    ticket: Ticket,
    content: IssueContent,
) -> ExternalLink:
    assert isinstance(provider, IssueCreator)
    started = time.monotonic()
    remote = None
    action = "create_issue"
    if job.create_started_at is not None:
        # an earlier attempt may have created the issue before it failed or died
        remote = await provider.find_issue(connection, content)
        action = "adopt_issue" if remote is not None else action
    if remote is None:
        job.create_started_at = utcnow()
        await session.commit()  # the idempotency record, before the vendor call
        remote = await provider.create_issue(connection, content)
    link = await add_link(
        session, integration_principal(ticket.organization_id), installation, ticket, remote
    )
    link.remote_state = remote.state
    record(
        session,
        installation,
        action,
        "ok",
        ticket_id=ticket.id,
        external_id=remote.external_id,
        started=started,
    )
    await session.commit()
    return link


async def _update(
    session: AsyncSession,
    provider: Provider,
    connection: Connection,
    installation: Installation,
    link: ExternalLink,
    ticket: Ticket,
    content: IssueContent,
) -> None:
    assert isinstance(provider, IssueUpdater)
    desired: dict[str, Any] = provider.desired_state(content)
    changed = frozenset(k for k, v in desired.items() if link.remote_state.get(k) != v)
    if changed:
        started = time.monotonic()
        state = await provider.update_issue(connection, link.external_id, content, changed)
        link.remote_state = {**link.remote_state, **state}
        record(
            session,
            installation,
            "update_issue",
            "ok",
            ticket_id=ticket.id,
            external_id=link.external_id,
            detail="changed: " + ", ".join(sorted(changed)),
            started=started,
        )
    link.last_synced_version = ticket.version
    link.last_synced_at = utcnow()
    await session.commit()


def comment_marker(comment_id: uuid.UUID) -> str:
    return marker("comment", str(comment_id))


async def _comments(
    session: AsyncSession,
    provider: Commenter,
    connection: Connection,
    installation: Installation,
    link: ExternalLink,
    ticket: Ticket,
) -> None:
    comments = await repo.public_comments(session, ticket.id)
    known = await repo.comment_links(session, installation.id, [c.id for c, _ in comments])
    for comment, author in comments:
        existing = known.get(comment.id)
        if existing is not None and existing.external_id is not None:
            continue
        started = time.monotonic()
        hidden = comment_marker(comment.id)
        external_id = None
        if existing is not None:  # an earlier attempt was cut short: did it get through?
            external_id = await provider.find_comment(connection, link.external_id, hidden)
        else:
            existing = CommentLink(
                id=uuid.uuid4(),
                organization_id=ticket.organization_id,
                installation_id=installation.id,
                comment_id=comment.id,
                origin="local",
                created_at=utcnow(),
            )
            session.add(existing)
            await session.commit()  # the idempotency record, before the vendor call
        if external_id is None:
            body = f"{author or 'AI Ticket Creator'} wrote:\n\n{comment.body}"
            external_id = await provider.add_comment(connection, link.external_id, body, hidden)
        existing.external_id = external_id
        record(
            session,
            installation,
            "comment",
            "ok",
            ticket_id=ticket.id,
            external_id=external_id,
            started=started,
        )
        await session.commit()
