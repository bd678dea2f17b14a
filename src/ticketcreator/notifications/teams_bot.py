"""A Teams bot's card of a ticket: posted once to the endpoint's conversation, then updated.

The Bot Connector calls (``Conversations_SendToConversation``: POST
``{serviceUrl}/v3/conversations/{conversationId}/activities``, answered with the new
activity's id; ``Conversations_UpdateActivity``: PUT ``.../activities/{activityId}``) carry
a token of the bot's Entra app, from the client-credentials grant of its tenant
(``webhooks.teams_login_url``, scope :data:`SCOPE`), kept in this process until shortly
before it expires. The service URL is checked like every webhook URL (SSRF) and the request
goes to the address checked.

Each delivery is one version of the card (numbered by :mod:`.teams_cards`). The ticket's
card row stays locked during the calls, so versions are sent one at a time, and a version
older than the one Teams shows is not sent (a retry that comes late, a redelivery): it is
recorded as skipped. A card deleted in Teams (404 on update) is posted again.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.notifications import addresses, repository
from ticketcreator.notifications.errors import UnsafeUrl
from ticketcreator.notifications.models import TeamsBot, WebhookEndpoint

SCOPE = "https://api.botframework.com/.default"
USER_AGENT = "AI-Ticket-Creator-Teams/1"
_EARLY_S = 300  # a token is renewed this long before it expires
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}


class BotCallFailed(Exception):
    """A call for the card did not succeed; ``outcome`` is what the delivery log records."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


async def deliver(
    session: AsyncSession, endpoint: WebhookEndpoint, body: dict[str, Any]
) -> dict[str, Any]:
    """Show one version of a ticket's card in the conversation; the attempt's outcome for
    the delivery log (``status_code`` 2xx when Teams shows it, ``skipped`` when it need not
    be sent)."""
    bot = endpoint.teams_bot
    assert bot is not None  # a teams_bot endpoint is made with its bot
    row = await repository.lock_held_card(session, endpoint.id, uuid.UUID(body["ticket_id"]))
    if row is None:
        return {"skipped": "the ticket was deleted"}
    if body["card"] <= row.cards_shown:
        return {"skipped": f"Teams shows a later version of the card ({row.cards_shown})"}
    started = time.monotonic()
    try:
        token = await _token(bot)
        target = await addresses.resolve(_activities_url(endpoint.url, bot.conversation_id))
        async with _client(target, token) as http:
            if row.activity_id is not None:
                url = f"{target.url}/{quote(row.activity_id, safe='')}"
                response = await _send(http, "PUT", url, target, body["activity"])
                if response.status_code == 404:  # deleted in Teams: post it again
                    row.activity_id = None
            if row.activity_id is None:
                response = await _send(http, "POST", target.url, target, body["activity"])
                if response.is_success:
                    row.activity_id = _activity_id(response)
    except BotCallFailed as exc:
        return {**exc.outcome, "duration_ms": _since(started)}
    except UnsafeUrl as exc:
        return {"error": exc.detail, "duration_ms": _since(started)}
    except httpx.HTTPError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:500], "duration_ms": _since(started)}
    if response.is_success:
        row.cards_shown = body["card"]
    return {
        "status_code": response.status_code,
        "response": response.text[: get_settings().webhooks.response_log_bytes],
        "duration_ms": _since(started),
    }


def _activities_url(service_url: str, conversation_id: str) -> str:
    return (
        f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation_id, safe='')}/activities"
    )


def _client(target: addresses.Target, token: str) -> httpx.AsyncClient:
    headers = {
        "Authorization": f"Bearer {token}",
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
    }
    return httpx.AsyncClient(
        timeout=get_settings().webhooks.timeout_s, follow_redirects=False, headers=headers
    )


async def _send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    target: addresses.Target,
    activity: dict[str, Any],
) -> httpx.Response:
    return await http.request(method, url, json=activity, extensions={"sni_hostname": target.host})


def _activity_id(response: httpx.Response) -> str:
    """The id of the activity a post made (the Bot Connector's ``ResourceResponse``)."""
    try:
        found = response.json().get("id")
    except (ValueError, AttributeError):
        found = None
    if not isinstance(found, str) or not found:
        raise BotCallFailed(
            {
                "status_code": response.status_code,
                "error": "Teams accepted the card but gave no activity id to update it by.",
                "response": response.text[:200],
            }
        )
    return found


async def _token(bot: TeamsBot) -> str:
    """A token of the bot's app for the Bot Connector (client credentials)."""
    secret_id = hashlib.sha256(bot.app_secret.encode()).hexdigest()
    key = (bot.tenant_id, bot.app_id, secret_id)
    cached = _tokens.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    cfg = get_settings().webhooks
    url = cfg.teams_login_url.format(tenant=quote(bot.tenant_id, safe=""))
    form = {
        "grant_type": "client_credentials",
        "client_id": bot.app_id,
        "client_secret": bot.app_secret,
        "scope": SCOPE,
    }
    async with httpx.AsyncClient(timeout=cfg.timeout_s, follow_redirects=False) as http:
        response = await http.post(url, data=form, headers={"User-Agent": USER_AGENT})
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    token = answer.get("access_token")
    if not response.is_success or not isinstance(token, str):
        # Entra's error code and description name the cause (e.g. invalid_client: a wrong or
        # expired secret); the secret itself is never in them.
        reason = answer.get("error_description") or answer.get("error")
        raise BotCallFailed(
            {
                "status_code": response.status_code,
                "error": f"The bot's token was refused: {reason or response.status_code}"[:500],
            }
        )
    try:
        lifetime = float(answer.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    _tokens[key] = (token, time.monotonic() + max(lifetime - _EARLY_S, 0.0))
    return token


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
