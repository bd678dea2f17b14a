"""Requests from Slack's buttons: verified, then read.

Slack signs each request (api.slack.com/authentication/verifying-requests-from-slack):
``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}")>``
with ``X-Slack-Request-Timestamp``. A request signed more than ``slack.signature_max_age_s``
(5 minutes) from now is refused, signatures are compared in constant time, and a signature
is accepted once (remembered in Redis for the window), so a captured request cannot be
replayed. The body is ``payload=<JSON>`` (form-encoded); the ``block_actions`` fields read
here are modelled on Slack's own SDK sample of that payload. Slack shows nothing of the
acknowledgement of a click: the answer goes to the payload's ``response_url``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import AppError
from ticketcreator.core.ratelimit import get_limiter
from ticketcreator.integrations.http import VendorError
from ticketcreator.notifications import slack_repository
from ticketcreator.notifications.errors import SlackSignatureInvalid
from ticketcreator.notifications.models import SlackConnection
from ticketcreator.notifications.slack_client import SlackClient

log = logging.getLogger(__name__)
_SEEN_KEY = "slack:signature:"


class _Id(BaseModel):
    id: str


class _Option(BaseModel):
    value: str


class Action(BaseModel):
    action_id: str
    type: str = ""
    value: str | None = None
    selected_option: _Option | None = None


class BlockActions(BaseModel):
    """The fields of a ``block_actions`` payload that are acted on (others are ignored)."""

    type: str
    team: _Id
    user: _Id
    actions: list[Action] = []
    response_url: str | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def workspace(body: bytes) -> tuple[str, dict[str, object]]:
    """The (still unverified) workspace id and payload of a request."""
    try:
        [raw] = parse_qs(body.decode(), strict_parsing=True)["payload"]
        payload = json.loads(raw)
        return str(payload["team"]["id"]), payload
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise SlackSignatureInvalid("Not a Slack interaction.") from None


async def verify(
    headers: Mapping[str, str], body: bytes, candidates: Iterable[SlackConnection]
) -> SlackConnection:
    """The connection whose signing secret signed the request; refuses old, forged and
    replayed requests."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    max_age = get_settings().slack.signature_max_age_s
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age:
        raise SlackSignatureInvalid("The request is too old or has no valid timestamp.")
    for connection in candidates:
        assert connection.signing_secret is not None
        if hmac.compare_digest(sign(connection.signing_secret, timestamp, body), signature):
            await first_use(_SEEN_KEY + signature, 2 * max_age, SlackSignatureInvalid, "request")
            return connection
    raise SlackSignatureInvalid("The request's signature does not verify.")


async def first_use(key: str, ttl_s: int, refused: type[AppError], what: str) -> None:
    """Remember ``key`` (in Redis, for ``ttl_s``); ``refused`` when it was already used, or
    when that cannot be told now."""
    try:
        fresh = await get_limiter().client.set(key, 1, nx=True, ex=ttl_s)
    except RedisError:
        log.warning("cannot tell a used Slack %s from a new one; refusing it", what)
        raise refused(f"The {what} cannot be checked now; try again.") from None
    if not fresh:
        raise refused(f"The {what} was already used.")


async def reply(organization_id: uuid.UUID, response_url: str, text: str) -> None:
    """Show the person who clicked the answer (best effort: they may click again)."""
    async with SlackClient(organization_id) as client:
        try:
            await client.respond(response_url, text)
        except VendorError as exc:
            log.warning("could not answer a click in Slack: %s", exc)


async def answer(
    session: AsyncSession, organization_id: uuid.UUID, channel: str, text: str
) -> None:
    """Answer a direct message to the app, in its conversation (best effort, bot token only)."""
    connection = await slack_repository.connection(session, organization_id)
    if connection is None or connection.bot_token is None:
        return
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    async with SlackClient(organization_id) as client:
        try:
            await client.post(connection.bot_token, channel, text, blocks)
        except VendorError as exc:
            log.warning("could not answer a direct message in Slack: %s", exc)


def event_payload(body: bytes) -> dict[str, Any]:
    """The (still unverified) JSON of an Events API request."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SlackSignatureInvalid("Not a Slack event.") from None
    if not isinstance(payload, dict):
        raise SlackSignatureInvalid("Not a Slack event.")
    return payload


def parse(payload: dict[str, object]) -> BlockActions:
    try:
        return BlockActions.model_validate(payload)
    except ValidationError:
        raise SlackSignatureInvalid("Not a Slack interaction.") from None
