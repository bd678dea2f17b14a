"""Linking a member to their Slack user, on Slack's word for who the Slack user is.

Only Slack knows who clicked: a button's request names the Slack user and is signed with the
organization's signing secret. So a click from a Slack user with no link acts on nothing; it
is answered, only to that user, with a link to AI Ticket Creator holding a token that binds
the workspace, the Slack user and the organization. The token is a JWT (HS256, with a key
derived for this purpose from ``security.jwt_signing_keys``, so it can never pass for an
access token), valid ``slack.link_ttl_s`` and accepted once. The member opens the link signed
in and confirms (``POST /v1/slack/user-links``) if the token is genuine, unexpired, unused,
of the member's organization and of the workspace still connected.

Confirming is not enough: a Slack user could hand their link to a member and have the member
confirm it, and the Slack user's clicks would then act as that member. So confirming only
shows the member a six-digit code, and the link is made when the code arrives in a direct
message to the app **from the Slack user the token names** (Slack's Events API, signed like
a click: :func:`complete`). A member who sends it from their own Slack account links nothing;
a wrong code five times cancels the wait.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import jwt
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.users import person
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.ratelimit import get_limiter
from ticketcreator.notifications import slack_interactions
from ticketcreator.notifications import slack_repository as repo
from ticketcreator.notifications.errors import InvalidSlackLink, SlackUserLinked
from ticketcreator.notifications.models import SlackUserLink

_PURPOSE = b"ticketcreator/slack-user-link/v1"
_AUDIENCE = "slack-user-link"
_ALGORITHM = "HS256"
_USED_KEY = "slack:link:"
_PENDING_KEY = "slack:link:pending:"
_TRIES = ":tries"
_MAX_TRIES = 5


@dataclass(frozen=True)
class Pending:
    """A confirmed link waiting for its code from the Slack user."""

    code: str
    team_id: str
    slack_user_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Claim:
    """What a token says: this Slack user of this workspace clicked in this organization."""

    organization_id: uuid.UUID
    team_id: str
    slack_user_id: str
    token_id: str
    expires: int


def _key(kid: str) -> bytes | None:
    secret = get_settings().security.jwt_signing_keys.get(kid)
    if secret is None:
        return None
    return hmac.new(secret.get_secret_value().encode(), _PURPOSE, hashlib.sha256).digest()


def issue(organization_id: uuid.UUID, team_id: str, slack_user_id: str) -> str:
    kid = get_settings().security.jwt_active_kid
    key = _key(kid)
    assert key is not None
    now = int(time.time())
    claims = {
        "aud": _AUDIENCE,
        "org": str(organization_id),
        "team": team_id,
        "sub": slack_user_id,
        "iat": now,
        "exp": now + get_settings().slack.link_ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM, headers={"kid": kid})


def url(token: str) -> str:
    return get_settings().slack.link_url.replace("{token}", quote(token, safe=""))


def read(token: str) -> Claim:
    """The claim of a genuine, unexpired token (:class:`InvalidSlackLink` otherwise)."""
    try:
        key = _key(str(jwt.get_unverified_header(token).get("kid")))
        if key is None:
            raise jwt.InvalidTokenError("unknown key")
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "iat", "jti", "sub", "aud"]},
        )
        return Claim(
            organization_id=uuid.UUID(str(claims["org"])),
            team_id=str(claims["team"]),
            slack_user_id=str(claims["sub"]),
            token_id=str(claims["jti"]),
            expires=int(claims["exp"]),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidSlackLink("The link has expired; click in Slack for a new one.") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise InvalidSlackLink("The link is not valid.") from None


async def confirm(session: AsyncSession, principal: Principal, token: str) -> Pending:
    """Check the token for the signed-in member (it is used up) and wait, until the token
    would have expired, for the Slack user to send the code it returns."""
    user_id, _ = person(principal)
    claim = read(token)
    if claim.organization_id != principal.organization_id:
        raise InvalidSlackLink("The link was made for another organization.")
    await _connected(session, principal.organization_id, claim.team_id)
    ttl = max(claim.expires - int(time.time()), 1)
    await slack_interactions.first_use(_USED_KEY + claim.token_id, ttl, InvalidSlackLink, "link")
    await _not_taken(
        session, principal.organization_id, user_id, claim.team_id, claim.slack_user_id
    )
    code = f"{secrets.randbelow(10**6):06d}"
    key = _pending_key(claim.organization_id, claim.team_id, claim.slack_user_id)
    try:
        async with get_limiter().client.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps({"user": str(user_id), "code": code}), ex=ttl)
            pipe.set(key + _TRIES, 0, ex=ttl)
            await pipe.execute()
    except RedisError:
        raise InvalidSlackLink("The link cannot be confirmed now; try again.") from None
    return Pending(
        code, claim.team_id, claim.slack_user_id, datetime.fromtimestamp(claim.expires, UTC)
    )


async def complete(
    session: AsyncSession, organization_id: uuid.UUID, team_id: str, slack_user_id: str, text: str
) -> str:
    """A direct message from ``slack_user_id`` to the app: link them if it is the code their
    member was shown. Returns the answer to send back to them.

    Every message counts as a try, atomically (``INCR``), so messages sent at once cannot
    each be the one that is not counted."""
    key = _pending_key(organization_id, team_id, slack_user_id)
    redis = get_limiter().client
    try:
        raw = await redis.get(key)
        if raw is None:
            return "No link is waiting for your Slack account. Click a button on a ticket to start."
        tries = await redis.incr(key + _TRIES)
        waiting = json.loads(raw)
        right = hmac.compare_digest(text.strip().replace(" ", ""), waiting["code"])
        if tries > _MAX_TRIES or (not right and tries == _MAX_TRIES):
            await redis.delete(key, key + _TRIES)
            return "That code is wrong too often; click a button on a ticket to start again."
        if not right:
            return (
                "That is not the code you were shown. "
                "Send the six digits shown after you confirmed."
            )
        await redis.delete(key, key + _TRIES)
    except RedisError:
        return "Linking cannot be checked now; send the code again in a minute."
    user_id = uuid.UUID(waiting["user"])
    await _connected(session, organization_id, team_id)
    await _not_taken(session, organization_id, user_id, team_id, slack_user_id)
    found = await repo.link(session, organization_id, user_id)
    if found is None:
        found = SlackUserLink(organization_id=organization_id, user_id=user_id)
        session.add(found)
    found.slack_team_id = team_id
    found.slack_user_id = slack_user_id
    found.created_at = utcnow()
    await session.flush()
    return "Linked: your clicks on tickets now act as your AI Ticket Creator account."


def _pending_key(organization_id: uuid.UUID, team_id: str, slack_user_id: str) -> str:
    return f"{_PENDING_KEY}{organization_id}:{team_id}:{slack_user_id}"


async def _connected(session: AsyncSession, organization_id: uuid.UUID, team_id: str) -> None:
    connection = await repo.connection(session, organization_id)
    if connection is None or connection.slack_team_id != team_id:
        raise InvalidSlackLink("The link was made for a Slack workspace no longer connected.")


async def _not_taken(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    team_id: str,
    slack_user_id: str,
) -> None:
    taken = await repo.link_of_slack_user(session, organization_id, team_id, slack_user_id)
    if taken is not None and taken.user_id != user_id:
        raise SlackUserLinked("This Slack user is linked to another member.")
