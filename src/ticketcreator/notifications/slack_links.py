"""Linking a member to their Slack user, on Slack's word for who the Slack user is.

Only Slack knows who clicked: a button's request names the Slack user and is signed with the
organization's signing secret. So a click from a Slack user with no link acts on nothing; it
is answered, only to that user, with a link to AI Ticket Creator holding a token that binds
the workspace, the Slack user and the organization. The token is a JWT (HS256, with a key
derived for this purpose from ``security.jwt_signing_keys``, so it can never pass for an
access token), valid ``slack.link_ttl_s`` and accepted once. The member opens the link signed
in and confirms (``POST /v1/slack/user-links``): the link is stored for that member if the
token is genuine, unexpired, unused, of the member's organization and of the workspace still
connected.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.users import person
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.notifications import slack_interactions
from ticketcreator.notifications import slack_repository as repo
from ticketcreator.notifications.errors import InvalidSlackLink, SlackUserLinked
from ticketcreator.notifications.models import SlackUserLink

_PURPOSE = b"ticketcreator/slack-user-link/v1"
_AUDIENCE = "slack-user-link"
_ALGORITHM = "HS256"
_USED_KEY = "slack:link:"


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


async def confirm(session: AsyncSession, principal: Principal, token: str) -> SlackUserLink:
    """Link the signed-in member to the Slack user the token names (replacing their previous
    Slack user); the token is used up."""
    user_id, _ = person(principal)
    claim = read(token)
    if claim.organization_id != principal.organization_id:
        raise InvalidSlackLink("The link was made for another organization.")
    connection = await repo.connection(session, principal.organization_id)
    if connection is None or connection.slack_team_id != claim.team_id:
        raise InvalidSlackLink("The link was made for a Slack workspace no longer connected.")
    ttl = max(claim.expires - int(time.time()), 1)
    await slack_interactions.first_use(_USED_KEY + claim.token_id, ttl, InvalidSlackLink, "link")
    taken = await repo.link_of_slack_user(
        session, principal.organization_id, claim.team_id, claim.slack_user_id
    )
    if taken is not None and taken.user_id != user_id:
        raise SlackUserLinked("This Slack user is linked to another member.")
    found = await repo.link(session, principal.organization_id, user_id)
    if found is None:
        found = SlackUserLink(organization_id=principal.organization_id, user_id=user_id)
        session.add(found)
    found.slack_team_id = claim.team_id
    found.slack_user_id = claim.slack_user_id
    found.created_at = utcnow()
    await session.flush()
    return found
