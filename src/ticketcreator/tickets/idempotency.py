"""``Idempotency-Key`` on creates (tickets, captures): a retry gets the first response back,
never a second object.

The first request claims the key with a fingerprint of its body and its response, in the
transaction that creates the object; a repeat with the same body replays that response, one
with another body is refused. A key is forgotten ``tickets.idempotency_ttl_h`` hours after its
claim.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, literal
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core import journal
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import Raced, utcnow
from ticketcreator.tickets import idempotency_repository as repo
from ticketcreator.tickets.errors import IdempotencyKeyReused

Remember = Callable[[dict[str, Any]], None]
"""Claims the key with the response of a create, as JSON (written with the transaction)."""

_NOTHING = literal(None)


async def once[Read: BaseModel](
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    body: BaseModel,
    create: Callable[[Remember, Any], Awaitable[Read]],
    read: type[Read],
    *,
    scope: str = "",
    alongside: ColumnElement[Any] = _NOTHING,
) -> tuple[Read, bool]:
    """What ``create`` returns, and whether it is the replay of an earlier request of the same
    caller with the same ``key`` (then ``create`` does not run); without a key, ``create``
    simply runs. ``scope`` keeps the request bodies of different creates apart.

    ``create`` calls the function it is given, once, with its response as JSON: that claims
    the key, with the response a retry gets back, in the transaction's next statement. It
    may do so before its last write, which then takes the claim along (a ticket's create,
    :func:`ticketcreator.tickets.service.create_ticket`); otherwise it is written as soon as
    ``create`` returns. Its second argument is the value of ``alongside`` (an expression of
    parameter ``organization_id``), read with the key's record in one statement; None
    without a key, when there is no record to read it with.

    A request whose key was claimed and committed by a concurrent one while it ran is run
    again from the start (:class:`~ticketcreator.core.db.Raced`), and then replays.
    """
    if key is None:
        return await create(_nothing_to_remember, None), False
    request_hash = _fingerprint(body, scope)
    now = utcnow()
    expired_before = now - timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    first, read_alongside = await repo.find(
        principal.organization_id, principal.rate_key, key, alongside
    )
    if first is not None:
        if first["created_at"] >= expired_before:
            if first["request_hash"] != request_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was sent with a different request body; use a new key.",
                )
            return read.model_validate(first["response_body"]), True
        await repo.forget_expired(session, first["id"], expired_before)
    record = {
        "id": uuid.uuid4(),
        "organization_id": principal.organization_id,
        "principal": principal.rate_key,
        "key": key,
        "request_hash": request_hash,
        "created_at": now,
        "response_status": 201,
    }

    def remember(response: dict[str, Any]) -> None:
        repo.remember(session, {**record, "response_body": response})

    try:
        created = await create(remember, read_alongside)
        await journal.flush(session)
    except IntegrityError as exc:
        if repo.claimed_first(exc):
            raise Raced("A concurrent request with the same Idempotency-Key came first.") from exc
        raise
    return created, False


def _nothing_to_remember(response: dict[str, Any]) -> None:
    """A create without a key has no response to remember."""


def _fingerprint(body: BaseModel, scope: str) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{scope}{canonical}".encode()).hexdigest()


async def purge_expired(session: AsyncSession, *, limit: int = 5000) -> int:
    """Forget keys past ``tickets.idempotency_ttl_h`` (a retry after that creates a new
    object anyway); at most ``limit`` per call."""
    ttl = timedelta(hours=get_settings().tickets.idempotency_ttl_h)
    return await repo.purge_idempotency_keys(session, utcnow() - ttl, limit)
