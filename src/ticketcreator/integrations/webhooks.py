"""Incoming vendor webhooks: verified, stored once per delivery, and announced; a task applies
them to the linked ticket (:func:`ticketcreator.integrations.sync.process_delivery`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.core.events import Topic, emit
from ticketcreator.integrations import repository as repo
from ticketcreator.integrations.base import WebhookRejected, WebhookSource
from ticketcreator.integrations.connection import typed_secrets
from ticketcreator.integrations.errors import (
    InvalidConfiguration,
    WebhookTooLarge,
    WebhookUnauthorized,
)
from ticketcreator.integrations.models import WebhookDelivery
from ticketcreator.integrations.registry import get_provider


async def receive_webhook(
    session: AsyncSession,
    provider_key: str,
    installation_id: uuid.UUID,
    headers: Mapping[str, str],
    body: bytes,
) -> bool:
    """Verify and store a webhook (processed by a task); False for a redelivery.

    Anything unsigned, forged, or for an unknown installation stores nothing.
    """
    if len(body) > get_settings().integrations.webhook_max_body:
        raise WebhookTooLarge("The webhook body is too large.")
    installation = await repo.installation_for_webhook(session, provider_key, installation_id)
    if installation is None or not installation.enabled:
        raise NotFound("No such integration installation.")
    provider = get_provider(installation.provider)
    assert isinstance(provider, WebhookSource)
    secret = typed_secrets(provider, installation).webhook_secret
    if secret is None:
        raise WebhookUnauthorized("No webhook secret is configured for this installation.")
    try:
        provider.verify_webhook(headers, body, secret.get_secret_value())
    except WebhookRejected as exc:
        raise WebhookUnauthorized(str(exc)) from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidConfiguration("The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidConfiguration("The webhook body is not a JSON object.")
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        organization_id=installation.organization_id,
        installation_id=installation.id,
        delivery_id=provider.webhook_delivery_id(headers, body)[:200],
        event=provider.webhook_event_name(headers, payload)[:100],
        payload=payload,
        received_at=utcnow(),
    )
    stored = await repo.store_delivery(session, delivery)
    if stored:
        emit(
            session,
            Topic.INTEGRATIONS_WEBHOOK_RECEIVED,
            {"delivery_id": str(delivery.id), "installation_id": str(installation.id)},
            organization_id=installation.organization_id,
        )
    return stored
