"""Changing many tickets at once: the same changes to every listed ticket, all or nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import AppError, NotFound
from ticketcreator.tickets import changes
from ticketcreator.tickets import repository as repo
from ticketcreator.tickets.errors import BulkUpdateFailed
from ticketcreator.tickets.models import Ticket
from ticketcreator.tickets.schemas import BulkUpdate
from ticketcreator.tickets.service import parse_ref, visibility


async def update(session: AsyncSession, principal: Principal, data: BulkUpdate) -> list[Ticket]:
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
    fields = data.changes.model_dump(exclude_unset=True, exclude={"add_tags", "remove_tags"})
    updated: list[Ticket] = []
    for ref, (ticket_id, number) in parsed.items():
        ticket = by_id.get(ticket_id) if ticket_id else by_number.get(number or 0)
        if ticket is None:
            errors.append(_bulk_error(ref, NotFound(f"No ticket {ref!r}.")))
            continue
        try:
            await changes.apply(
                session,
                principal,
                ticket,
                dict(fields),
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
