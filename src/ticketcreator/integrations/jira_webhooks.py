"""The webhook side of the Jira provider. Admin webhooks saved with a secret carry
``X-Hub-Signature: sha256=<HMAC-SHA256 of the raw body>``; ``X-Atlassian-Webhook-Identifier``
names a delivery. A status change and a new comment become inbound events; a comment that
carries our entity property (or our marker) is one we sent."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ticketcreator.integrations.base import MARKER_PREFIX, InboundEvent, check_hub_signature
from ticketcreator.integrations.jira_adf import adf_plain

COMMENT_PROPERTY = "ticketcreator"  # the entity property of our comments, holding their marker


class JiraWebhooks:
    """Verifying, naming and reading Jira webhooks (the provider's :class:`WebhookSource` part)."""

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_hub_signature(headers.get("x-hub-signature"), body, secret, "X-Hub-Signature")

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return headers.get("x-atlassian-webhook-identifier") or hashlib.sha256(body).hexdigest()

    def webhook_event_name(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        return str(payload.get("webhookEvent") or "unknown")

    def parse_webhook(self, event: str, payload: dict[str, Any]) -> InboundEvent:
        issue = payload.get("issue") or {}
        key = issue.get("key")
        if not key:
            return InboundEvent(kind="ignored")
        if event == "jira:issue_updated":
            for item in (payload.get("changelog") or {}).get("items") or []:
                if item.get("field") == "status" and item.get("toString"):
                    return InboundEvent(
                        kind="status",
                        external_issue_id=str(key),
                        vendor_status=str(item["toString"]),
                    )
            return InboundEvent(kind="ignored", external_issue_id=str(key))
        if event == "comment_created":
            comment = payload.get("comment") or {}
            text = adf_plain(comment.get("body"))
            ours = (
                any(prop.get("key") == COMMENT_PROPERTY for prop in comment.get("properties") or [])
                or MARKER_PREFIX in text
            )
            return InboundEvent(
                kind="comment",
                external_issue_id=str(key),
                comment_id=str(comment.get("id")),
                comment_body=text,
                author=(comment.get("author") or {}).get("displayName"),
                from_us=ours,
            )
        return InboundEvent(kind="ignored", external_issue_id=str(key))
