"""Who is calling, and may they: the authorization declaration every route carries.

Every route depends on exactly one of :func:`public` or :class:`Authorizer`. A test walks
all routes and fails when one has neither, so no endpoint can forget its rule.
``Authorizer`` accepts ``Authorization: Bearer <jwt>``, ``Authorization: ApiKey <key>`` or
``X-API-Key: <key>``, loads the caller's current role in the organization, counts the request
against the caller's rate limit, and checks the route's permission.

A verified caller is remembered by the API process for ``api.principal_cache_s`` seconds (at
most 5), so most requests need no database look-up to authenticate. That is the bound within
which a revoked API key or session, a removed member or a changed role takes effect in every
process; the process that made the change forgets the organization's callers at once.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import ApiKey, AuthSession, Membership, User
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Permission, Role
from ticketcreator.accounts.tokens import decode_access_token, same_hash
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import get_session, utcnow
from ticketcreator.core.errors import Forbidden, Unauthorized
from ticketcreator.core.middleware import answer_with
from ticketcreator.core.ratelimit import limit_principal

API_KEY_PREFIX = "tck"
_LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    bearerFormat="JWT",
    description="Access token from `POST /v1/auth/login` (or `Authorization: ApiKey <key>`).",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKeyAuth",
    description="A scoped API key (`tck_...`), for the Chrome extension and machine clients.",
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, within one organization."""

    organization_id: uuid.UUID
    role: Role
    permissions: frozenset[Permission]
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def is_author(self, user_id: uuid.UUID | None, api_key_id: uuid.UUID | None) -> bool:
        """Whether this caller made what was recorded as made by ``user_id``/``api_key_id``
        (an upload, an attachment, a comment): an API key only what it made itself."""
        if self.api_key_id is not None:
            return api_key_id == self.api_key_id
        return self.user_id is not None and user_id == self.user_id

    @property
    def rate_key(self) -> str:
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"


class PrincipalCache:
    """Verified callers of this process, each kept until its deadline (monotonic seconds)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: str, principal: Principal, seconds: float) -> None:
        if seconds <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            while len(self._entries) >= self.MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (principal, time.monotonic() + seconds)

    def forget(
        self, *, organization_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
    ) -> None:
        """Drop the callers of an organization, or of a user in every organization."""
        self._entries = {
            key: (principal, until)
            for key, (principal, until) in self._entries.items()
            if not (
                (organization_id is not None and principal.organization_id == organization_id)
                or (user_id is not None and principal.user_id == user_id)
            )
        }

    def clear(self) -> None:
        self._entries.clear()


principals = PrincipalCache()


def _cache_seconds(expires_at: float | None = None) -> float:
    """How long a principal may be reused: the setting, cut at the credential's expiry."""
    seconds = float(get_settings().api.principal_cache_s)
    if expires_at is not None:
        seconds = min(seconds, expires_at - time.time())
    return seconds


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer realm="ticketcreator"'})


async def principal_from_jwt(session: AsyncSession, token: str) -> Principal:
    return _one(await principals_from_jwts(session, [token]), token)


async def principals_from_jwts(
    session: AsyncSession, tokens: Collection[str]
) -> dict[str, Principal | Unauthorized]:
    """The caller of each access token, or why it is refused; one query for those not cached
    (open streams check their callers again in batches)."""
    found, claims_of = _not_cached(tokens, _jwt_cache_key, decode_access_token)
    if not claims_of:
        return found
    rows = {
        row.id: row
        for row in await session.execute(
            select(
                AuthSession.id,
                AuthSession.user_id,
                AuthSession.organization_id,
                AuthSession.revoked_at,
                AuthSession.expires_at,
                Membership.role,
            )
            .join(
                Membership,
                (Membership.user_id == AuthSession.user_id)
                & (Membership.organization_id == AuthSession.organization_id),
            )
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.id.in_({claims.session_id for claims in claims_of.values()}),
                User.is_active.is_(True),
            )
        )
    }
    now = utcnow()
    for token, claims in claims_of.items():
        row = rows.get(claims.session_id)
        if (
            row is None
            or (row.user_id, row.organization_id) != (claims.user_id, claims.organization_id)
            or row.revoked_at is not None
            or row.expires_at <= now
        ):
            found[token] = _unauthorized("The session has ended; log in again.")
            continue
        principal = Principal(
            organization_id=claims.organization_id,
            role=row.role,
            permissions=ROLE_PERMISSIONS[row.role],
            user_id=claims.user_id,
            session_id=claims.session_id,
        )
        # Reused until the token or its session expires, whichever is first (within the bound).
        ends = min(claims.expires_at, row.expires_at).timestamp()
        principals.put(_jwt_cache_key(token), principal, _cache_seconds(ends))
        found[token] = principal
    return found


def _not_cached[T](
    credentials: Collection[str], cache_key: Callable[[str], str], parse: Callable[[str], T]
) -> tuple[dict[str, Principal | Unauthorized], dict[str, T]]:
    """The callers of the credentials found in the cache, or why a credential is refused
    (``parse`` raises :class:`Unauthorized`); and the others parsed, to be looked up."""
    found: dict[str, Principal | Unauthorized] = {}
    parsed: dict[str, T] = {}
    for credential in credentials:
        cached = principals.get(cache_key(credential))
        if cached is not None:
            found[credential] = cached
            continue
        try:
            parsed[credential] = parse(credential)
        except Unauthorized as refused:
            found[credential] = refused
    return found, parsed


def _jwt_cache_key(token: str) -> str:
    return "jwt:" + hashlib.sha256(token.encode()).hexdigest()


def _api_key_cache_key(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()


def _one(found: dict[str, Principal | Unauthorized], credential: str) -> Principal:
    result = found[credential]
    if isinstance(result, Unauthorized):
        raise result
    return result


def split_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key ``tck_<prefix>_<secret>``, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def _api_key_prefix(key: str) -> str:
    prefix = split_api_key(key)
    if prefix is None:
        raise _unauthorized("The API key is invalid, expired or revoked.")
    return prefix


async def principal_from_api_key(session: AsyncSession, key: str) -> Principal:
    return _one(await principals_from_api_keys(session, [key]), key)


async def principals_from_api_keys(
    session: AsyncSession, keys: Collection[str]
) -> dict[str, Principal | Unauthorized]:
    """The caller of each API key, or why it is refused; one query for those not cached,
    and one update of the last use of those not used for a minute."""
    found, prefix_of = _not_cached(keys, _api_key_cache_key, _api_key_prefix)
    if not prefix_of:
        return found
    records = {
        record.prefix: record
        for record in await session.scalars(
            select(ApiKey).where(ApiKey.prefix.in_(set(prefix_of.values())))
        )
    }
    now = utcnow()
    used: set[uuid.UUID] = set()
    for key, prefix in prefix_of.items():
        record = records.get(prefix)
        if (
            record is None
            or not same_hash(key, record.key_hash)
            or record.revoked_at is not None
            or (record.expires_at is not None and record.expires_at <= now)
        ):
            found[key] = _unauthorized("The API key is invalid, expired or revoked.")
            continue
        if record.last_used_at is None or now - record.last_used_at > _LAST_USED_RESOLUTION:
            used.add(record.id)
        scopes = frozenset(Permission(scope) for scope in record.scopes)
        principal = Principal(
            organization_id=record.organization_id,
            role=record.role,
            permissions=ROLE_PERMISSIONS[record.role] & scopes,
            api_key_id=record.id,
            user_id=record.created_by,
        )
        expires = record.expires_at.timestamp() if record.expires_at is not None else None
        principals.put(_api_key_cache_key(key), principal, _cache_seconds(expires))
        found[key] = principal
    if used:
        await session.execute(update(ApiKey).where(ApiKey.id.in_(used)).values(last_used_at=now))
    return found


async def authenticate(
    session: Callable[[], Awaitable[AsyncSession]],
    header_key: str | None,
    authorization: str | None,
) -> Principal:
    """The caller of an ``X-API-Key`` header, else of an ``Authorization`` header: ``Bearer``
    (any case, as FastAPI's ``HTTPBearer`` reads it) or ``ApiKey``.

    ``session`` is called only to look a caller up who is not in the cache: a request that
    needs no session of its own then never makes one (that cost a ticket's GET 2 %)."""
    if header_key:
        return await _principal(session, header_key, _api_key_cache_key, principal_from_api_key)
    if authorization:
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if value:
            scheme = scheme.lower()
            if scheme == "bearer":
                return await _principal(session, value, _jwt_cache_key, principal_from_jwt)
            if scheme == "apikey":
                return await _principal(session, value, _api_key_cache_key, principal_from_api_key)
    raise _unauthorized("Send `Authorization: Bearer <token>` or an API key.")


async def _principal(
    session: Callable[[], Awaitable[AsyncSession]],
    credential: str,
    cache_key: Callable[[str], str],
    look_up: Callable[[AsyncSession, str], Awaitable[Principal]],
) -> Principal:
    cached = principals.get(cache_key(credential))
    if cached is not None:
        return cached
    return await look_up(await session(), credential)


class Authorizer:
    """Route dependency: authenticate the caller and require ``permission``.

    It reads the credential headers and the request's session itself rather than through
    FastAPI sub-dependencies, which every request paid for in dependency solving; the OpenAPI
    document declares the credentials it reads
    (:func:`~ticketcreator.accounts.declarations.documented_credentials`).
    """

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        headers = request.headers
        principal = await authenticate(
            functools.partial(get_session, request),
            headers.get("x-api-key"),
            headers.get("authorization"),
        )
        limit = await limit_principal(principal.rate_key)
        if limit is not None:
            answer_with(request, limit.headers())
        if not principal.can(self.permission):
            raise Forbidden(
                f"Your role or key scope does not allow `{self.permission}`.",
                required_permission=str(self.permission),
            )
        request.state.principal = principal
        return principal
