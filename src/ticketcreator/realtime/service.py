"""One client's stream: who is calling, what they follow, and the frames they receive.

:class:`Stream` is shared by the WebSocket and the SSE routes. It joins the process's hub,
resumes from the client's last event id (reading what it missed from Redis), then passes on
live events that the caller may see, interleaved with heartbeats. Every
``reauth_interval_s`` it checks the credential again, so a revoked session, a removed member
or a changed role takes effect on open streams too; a WebSocket client renews an expiring
access token by sending a new ``auth`` message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal, authenticate
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import session_factory
from ticketcreator.core.errors import Forbidden, Unauthorized
from ticketcreator.core.ratelimit import limit_principal
from ticketcreator.realtime import bus
from ticketcreator.realtime.errors import InvalidEventId, InvalidScope, SlowClient
from ticketcreator.realtime.events import Access, Scope, ScopeKind, may_receive
from ticketcreator.tickets import service as tickets

log = logging.getLogger(__name__)

STREAM_PERMISSION = Permission.TICKETS_READ


@dataclass(frozen=True)
class Credential:
    """What the client authenticated with; kept to check it again while the stream is open."""

    token: str | None = None
    api_key: str | None = None

    async def principal(self, session: AsyncSession) -> Principal:
        bearer = (
            HTTPAuthorizationCredentials(scheme="Bearer", credentials=self.token)
            if self.token
            else None
        )
        return await authenticate(session, bearer, self.api_key, None)


async def open_stream(
    credential: Credential,
    scope: ScopeKind,
    ticket_ref: str | None,
    last_event_id: str | None,
) -> Stream:
    """Authenticate, check the permission and the rate limit, resolve the scope."""
    if last_event_id is not None:
        check_event_id(last_event_id)
    async with session_factory()() as session:
        principal = await credential.principal(session)
        await session.commit()  # an API key's last use
        return await start(session, principal, credential, scope, ticket_ref, last_event_id)


async def start(
    session: AsyncSession,
    principal: Principal,
    credential: Credential,
    scope: ScopeKind,
    ticket_ref: str | None,
    last_event_id: str | None,
) -> Stream:
    """A stream for an authenticated caller (the SSE route authenticates by itself)."""
    if not principal.can(STREAM_PERMISSION):
        raise Forbidden(
            f"Your role or key scope does not allow `{STREAM_PERMISSION}`.",
            required_permission=STREAM_PERMISSION.value,
        )
    await limit_principal(principal.rate_key)
    ticket_id: uuid.UUID | None = None
    if scope is ScopeKind.TICKET:
        if not ticket_ref:
            raise InvalidScope("`scope=ticket` needs `ticket` (an id or a key like T-12).")
        ticket_id = (await tickets.load(session, principal, ticket_ref)).id
    elif ticket_ref:
        raise InvalidScope("`ticket` goes with `scope=ticket` only.")
    if last_event_id is not None:
        check_event_id(last_event_id)
    return Stream(principal, credential, Scope(scope, ticket_id), last_event_id)


def check_event_id(value: str) -> None:
    try:
        bus.parse_id(value)
    except ValueError:
        raise InvalidEventId(
            "The last event id is not one this stream sent (expected `<ms>-<seq>`)."
        ) from None


class FrameKind(StrEnum):
    READY = "stream.ready"
    EVENT = "event"
    HEARTBEAT = "stream.heartbeat"
    RESET = "stream.reset"


@dataclass(frozen=True)
class Frame:
    kind: FrameKind
    id: str | None = None
    type: str | None = None
    body: str | None = None  # the event as JSON, with its id


class Stream:
    def __init__(
        self,
        principal: Principal,
        credential: Credential,
        scope: Scope,
        last_event_id: str | None,
    ) -> None:
        self.principal = principal
        self.visibility = tickets.visibility(principal)
        self.credential = credential
        self.scope = scope
        self.last_event_id = last_event_id
        self._check_due = time.monotonic() + _check_interval()
        self._check: asyncio.Task[None] | None = None

    def accepts(self, access: Access) -> bool:
        return may_receive(self.principal, self.visibility, self.scope, access)

    def renew(self, credential: Credential) -> None:
        """A new credential (e.g. a refreshed access token); checked on the next frame."""
        self.credential = credential
        self._check_due = 0.0

    async def frames(self) -> AsyncIterator[Frame]:
        cfg = get_settings().realtime
        organization_id = self.principal.organization_id
        listener = bus.Listener(organization_id, self.accepts, cfg.queue_size)
        hub = bus.hub()
        await hub.add(listener)
        try:
            current = await bus.latest_id(organization_id)
            resume_from = self.last_event_id
            last = bus.parse_id(current)
            yield Frame(FrameKind.READY, id=resume_from or current)
            if resume_from is not None:
                last = bus.parse_id(resume_from)
                async for frame in self._replay(organization_id, resume_from):
                    if frame.id is not None:
                        last = bus.parse_id(frame.id)
                    yield frame
            while True:
                try:
                    entry = await asyncio.wait_for(listener.queue.get(), cfg.heartbeat_s)
                except TimeoutError:
                    self._check_credential(listener)
                    yield Frame(FrameKind.HEARTBEAT)
                    continue
                self._check_credential(listener)
                if listener.overflowed:
                    raise SlowClient(
                        f"More than {cfg.queue_size} events were waiting for this client."
                    )
                if listener.resync:
                    listener.resync = False
                    async for frame in self._replay(organization_id, _id_of(last)):
                        if frame.id is not None:
                            last = bus.parse_id(frame.id)
                        yield frame
                    continue
                if entry is None or entry.key <= last:
                    continue
                last = entry.key
                if self.accepts(entry.access):  # again: the role may have changed since
                    yield Frame(FrameKind.EVENT, id=entry.id, type=entry.type, body=entry.body)
        finally:
            hub.remove(listener)
            if self._check is not None:
                self._check.cancel()

    async def _replay(self, organization_id: uuid.UUID, after: str) -> AsyncIterator[Frame]:
        try:
            async for entry in bus.replay(organization_id, after):
                if self.accepts(entry.access):
                    yield Frame(FrameKind.EVENT, id=entry.id, type=entry.type, body=entry.body)
        except bus.Gap as gap:
            latest = await bus.latest_id(organization_id)
            yield Frame(FrameKind.RESET, id=latest, body=str(gap))

    def _check_credential(self, listener: bus.Listener) -> None:
        """End the stream if the last check of the credential failed; start one when due.

        The check reads the database, so it runs beside the stream rather than in its way:
        events keep flowing (to the principal as last checked) while it runs, and a failed
        check wakes the stream to end it.
        """
        check = self._check
        if check is not None:
            if not check.done():
                return
            self._check = None
            check.result()  # Unauthorized or Forbidden: the stream ends
        if time.monotonic() >= self._check_due:
            self._check = asyncio.create_task(self._recheck(), name="realtime-credential-check")
            self._check.add_done_callback(_wake_if_failed(listener))

    async def _recheck(self) -> None:
        """Authenticate again; a lost session or membership ends the stream."""
        async with bus.hub().credential_checks, session_factory()() as session:
            principal = await self.credential.principal(session)
            await session.commit()
        if principal.organization_id != self.principal.organization_id:
            raise Unauthorized("The credential now belongs to another organization.")
        if not principal.can(STREAM_PERMISSION):
            raise Forbidden(f"Your role or key scope no longer allows `{STREAM_PERMISSION}`.")
        self.principal = principal
        self.visibility = tickets.visibility(principal)
        self._check_due = time.monotonic() + _check_interval()


def _check_interval() -> float:
    """``reauth_interval_s``, less up to a quarter at random: streams opened together (after a
    deploy, say) spread their checks out instead of querying the database all at once."""
    return get_settings().realtime.reauth_interval_s * random.uniform(0.75, 1.0)  # noqa: S311


def _wake_if_failed(listener: bus.Listener) -> Callable[[asyncio.Task[None]], None]:
    def done(check: asyncio.Task[None]) -> None:
        if not check.cancelled() and check.exception() is not None:
            listener.wake()

    return done


def _id_of(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]}"
