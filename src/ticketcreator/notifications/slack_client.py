"""Calls to Slack: ``chat.postMessage``, ``chat.update`` and ``auth.test`` with a bot token,
or a post to an incoming-webhook URL.

Built on the vendor client of :mod:`ticketcreator.integrations.http` (timeouts, the
organization's request budget in Redis, ``Retry-After`` on 429 held for every later call).
Web API calls are form-encoded as Slack's Web API description documents them (``blocks`` a
JSON string), with the token in ``Authorization: Bearer``. Slack answers most failures with
200 and ``{"ok": false, "error": ...}``: those become :class:`SlackRefused` (or
:class:`~ticketcreator.integrations.http.RateLimited` for ``ratelimited``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from ticketcreator.core.config import get_settings
from ticketcreator.integrations.http import Budget, RateLimited, VendorClient, VendorError

# Answers that may succeed if tried again later.
_RETRIABLE = frozenset({"fatal_error", "request_timeout", "service_unavailable", "internal_error"})
# An incoming webhook answers 200 "ok", or 4xx with the reason as text ("channel_not_found").
_WEBHOOK_ANSWERS = (200, 400, 403, 404, 410)


class SlackRefused(VendorError):
    """Slack answered ``ok: false`` with an error code (or an incoming webhook refused)."""

    def __init__(self, method: str, error: str, status: int | None = None) -> None:
        super().__init__(f"{method}: {error}", status)
        self.retriable = error in _RETRIABLE


class SlackClient:
    def __init__(self, organization_id: uuid.UUID) -> None:
        cfg = get_settings().slack
        budget = Budget(uuid.uuid5(organization_id, "slack"), cfg.requests_per_minute)
        self._http = VendorClient(cfg.api_base_url, budget)

    async def __aenter__(self) -> SlackClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, token: str, form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        verb = "POST" if form is not None else "GET"
        response = await self._http.request(verb, f"/{method}", headers=headers, data=form)
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            raise SlackRefused(method, "invalid_response", response.status_code) from None
        if body.get("ok") is not True:
            error = str(body.get("error") or "unknown_error")
            if error in ("ratelimited", "rate_limited"):
                raise RateLimited(f"{method}: {error}", retry_after=_wait(response))
            raise SlackRefused(method, error, response.status_code)
        return body

    async def post(self, token: str, channel: str, text: str, blocks: list[Any]) -> str:
        """Post a message; returns its ``ts``."""
        form = {"channel": channel, "text": text, "blocks": json.dumps(blocks)}
        body = await self._call("chat.postMessage", token, form)
        return str(body["ts"])

    async def update(self, token: str, channel: str, ts: str, text: str, blocks: list[Any]) -> None:
        form = {"channel": channel, "ts": ts, "text": text, "blocks": json.dumps(blocks)}
        await self._call("chat.update", token, form)

    async def team_of(self, token: str) -> str:
        """The workspace (team id) the token belongs to (``auth.test``)."""
        return str((await self._call("auth.test", token)).get("team_id") or "")

    async def post_to_webhook(self, url: str, text: str, blocks: list[Any]) -> None:
        await self._post_json("incoming webhook", url, {"text": text, "blocks": blocks})

    async def respond(self, response_url: str, text: str) -> None:
        """Answer a click, visible only to the person who clicked (``response_url``)."""
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        await self._post_json("response_url", response_url, body)

    async def _post_json(self, what: str, url: str, body: dict[str, Any]) -> None:
        if not is_webhook_url(url):
            raise SlackRefused(what, "not_a_slack_url")
        response = await self._http.request("POST", url, json=body, expect=_WEBHOOK_ANSWERS)
        if response.status_code != 200:
            error = response.text.strip()[:100] or str(response.status_code)
            raise SlackRefused(what, error, response.status_code)


def is_webhook_url(url: str) -> bool:
    """Whether ``url`` is a webhook URL of Slack (``slack.webhook_url_prefix``: incoming
    webhooks and response URLs): nothing else is ever sent such a message."""
    prefix = get_settings().slack.webhook_url_prefix
    return url.startswith(prefix) and len(url) > len(prefix) and ".." not in url


def _wait(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return get_settings().integrations.default_rate_limit_wait_s
