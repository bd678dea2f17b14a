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
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal, principals_from_api_keys, principals_from_jwts
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import read_session_factory
from ticketcreator.core.errors import AppError, Forbidden, Unauthorized
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
        result = (await verify(session, [self]))[self]
        if isinstance(result, Unauthorized):
            raise result
        return result


async def verify(
    session: AsyncSession, credentials: Collection[Credential]
) -> dict[Credential, Principal | Unauthorized]:
    """Each credential's caller now, or why it is refused: one query for the access tokens and
    one for the API keys, however many streams are checked."""
    tokens = {c.token for c in credentials if c.token}
    keys = {c.api_key or "" for c in credentials if not c.token}
    by_token = await principals_from_jwts(session, tokens) if tokens else {}
    by_key = await principals_from_api_keys(session, keys) if keys else {}
    return {c: by_token[c.token] if c.token else by_key[c.api_key or ""] for c in credentials}


async def open_stream(
    credential: Credential,
    scope: ScopeKind,
    ticket_ref: str | None,
    last_event_id: str | None,
) -> Stream:
    """Authenticate, check the permission and the rate limit, resolve the scope."""
    if last_event_id is not None:
        check_event_id(last_event_id)
    async with read_session_factory()() as session:  # each statement commits (a key's last use)
        principal = await credential.principal(session)
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
        self._checking = False
        self._refused: AppError | None = None
        self.sender: asyncio.Task[None] | None = None
        self._listener: bus.Listener | None = None

    def accepts(self, access: Access) -> bool:
        return may_receive(self.principal, self.visibility, self.scope, access)

    def renew(self, credential: Credential) -> None:
        """A new credential (e.g. a refreshed access token); checked on the next frame."""
        self.credential = credential
        self._check_due = 0.0

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """The frames for this client. A sender that may stall (a WebSocket) sets
        :attr:`sender` first: the hub cancels it when a frame waits too long for the client."""
        cfg = get_settings().realtime
        organization_id = self.principal.organization_id
        listener = bus.Listener(organization_id, self.accepts, cfg.queue_size)
        listener.consumer = self.sender
        self._listener = listener
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
                entry = await listener.queue.get()
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
                        listener.handing()
                        yield frame
                        listener.taken()
                    continue
                if entry is None:
                    if listener.heartbeat_due:
                        listener.heartbeat_due = False
                        listener.handing()
                        yield Frame(FrameKind.HEARTBEAT)
                        listener.taken()
                    continue
                if entry.key <= last:
                    continue
                last = entry.key
                if self.accepts(entry.access):  # again: the role may have changed since
                    listener.handing()
                    yield Frame(FrameKind.EVENT, id=entry.id, type=entry.type, body=entry.body)
                    listener.taken()
        finally:
            hub.remove(listener)

    @property
    def stalled(self) -> bool:
        """The hub ended the sender because the client stopped taking frames."""
        return self._listener is not None and self._listener.stalled

    async def _replay(self, organization_id: uuid.UUID, after: str) -> AsyncIterator[Frame]:
        try:
            async for entry in bus.replay(organization_id, after):
                if self.accepts(entry.access):
                    yield Frame(FrameKind.EVENT, id=entry.id, type=entry.type, body=entry.body)
        except bus.Gap as gap:
            latest = await bus.latest_id(organization_id)
            yield Frame(FrameKind.RESET, id=latest, body=str(gap))

    def _check_credential(self, listener: bus.Listener) -> None:
        """End the stream if the last check of the credential failed; ask for one when due.

        Checks read the database, so they run beside the streams (:class:`CredentialChecks`):
        events keep flowing (to the principal as last checked) while one runs, and a failed
        check wakes the stream to end it.
        """
        if self._refused is not None:
            raise self._refused
        if not self._checking and time.monotonic() >= self._check_due:
            self._checking = True
            checks().submit(self, listener)

    def settle(self, credential: Credential, result: Principal | AppError) -> bool:
        """The outcome of a check of ``credential`` (see :class:`CredentialChecks`); False
        when the stream must end."""
        self._checking = False
        if credential != self.credential:
            return True  # renewed meanwhile: the new credential is checked on the next frame
        if isinstance(result, AppError):
            self._refused = result
        elif result.organization_id != self.principal.organization_id:
            self._refused = Unauthorized("The credential now belongs to another organization.")
        elif not result.can(STREAM_PERMISSION):
            self._refused = Forbidden(
                f"Your role or key scope no longer allows `{STREAM_PERMISSION}`."
            )
        else:
            self.principal = result
            self.visibility = tickets.visibility(result)
            self._check_due = time.monotonic() + _check_interval()
        return self._refused is None

    def retry_check(self) -> None:
        """The check could not run (the database is unavailable): try again shortly, meanwhile
        serving the principal as last checked."""
        self._checking = False
        self._check_due = time.monotonic() + min(5.0, _check_interval())


class CredentialChecks:
    """The credential checks of one API process, batched: the streams falling due within a
    second (a quarter of ``reauth_interval_s`` when shorter) are checked together, each batch
    (up to ``realtime.reauth_batch``) one database session and a query or two, whatever its
    size. A thousand streams re-checked every minute cost one short query a second, not a
    thousand sessions."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._due: dict[Stream, bus.Listener] = {}
        self._task: asyncio.Task[None] | None = None

    def submit(self, stream: Stream, listener: bus.Listener) -> None:
        self._due[stream] = listener
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="realtime-credential-checks")

    async def _run(self) -> None:
        cfg = get_settings().realtime
        period = min(1.0, cfg.reauth_interval_s / 4)
        while self._due:
            await asyncio.sleep(period)  # the checks falling due meanwhile go in the same batch
            while self._due:
                batch = list(itertools.islice(self._due.items(), cfg.reauth_batch))
                for stream, _ in batch:
                    del self._due[stream]
                await self._check(batch)

    async def _check(self, batch: list[tuple[Stream, bus.Listener]]) -> None:
        checked = [(stream, stream.credential, listener) for stream, listener in batch]
        try:
            async with read_session_factory()() as session:
                found = await verify(session, {credential for _, credential, _ in checked})
        except (SQLAlchemyError, OSError) as exc:
            log.warning("stream credential checks failed", extra={"error": str(exc)})
            for stream, _, _ in checked:
                stream.retry_check()
            return
        for stream, credential, listener in checked:
            if not stream.settle(credential, found[credential]):
                listener.wake()


_checks: dict[tuple[int, int], CredentialChecks] = {}


def checks() -> CredentialChecks:
    """The credential checks of this process and event loop."""
    return bus.of_this_loop(_checks, CredentialChecks)


def _check_interval() -> float:
    """``reauth_interval_s``, less up to a quarter at random: streams opened together (after a
    deploy, say) spread their checks out instead of querying the database all at once."""
    return get_settings().realtime.reauth_interval_s * random.uniform(0.75, 1.0)  # noqa: S311


def _id_of(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]}"
