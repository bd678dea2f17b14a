"""Outgoing webhooks: endpoints per organization, one delivery per event and endpoint,
signed attempts with exponential backoff for up to ``retry_window_s``, a delivery log,
manual redelivery, and endpoints disabled after failing persistently.

Deliveries are recorded by an outbox subscriber (so an event is offered once per endpoint,
even if the outbox hands it over twice), attempted right after (a ``webhook.delivery_due``
event), and retried by the ``webhooks.retry_due`` beat task when their time comes. A
customer's system (standard format) gets every event; a Teams endpoint gets cards, at most
one per ticket per coalescing window (:mod:`.teams_cards`), and a Teams bot's deliveries
are the versions of its one card per ticket (:mod:`.teams_bot`).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import NotFound
from ticketcreator.notifications import addresses, repository, signing, teams_bot, teams_cards
from ticketcreator.notifications.errors import NotABotEndpoint, UnknownEventType, UnsafeUrl
from ticketcreator.notifications.models import (
    DeliveryStatus,
    EndpointFormat,
    TeamsBot,
    WebhookDelivery,
    WebhookEndpoint,
)
from ticketcreator.notifications.schemas import TeamsBotSet, WebhookCreate, WebhookUpdate
from ticketcreator.realtime.events import EVENTS
from ticketcreator.tickets.models import Ticket

# The events a customer's system may subscribe to: the real-time stream's, and the status
# changes and assignments the stream carries as ticket.updated's changes.
EVENT_TYPES = sorted(EVENTS)
USER_AGENT = "AI-Ticket-Creator-Webhooks/1"
_TEAMS = (EndpointFormat.TEAMS.value, EndpointFormat.TEAMS_BOT.value)  # ticket cards
_random = secrets.SystemRandom()


def _check_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - {*EVENT_TYPES, "*"})
    if unknown:
        raise UnknownEventType(
            f"Unknown event types: {', '.join(unknown)}.", allowed=[*EVENT_TYPES, "*"]
        )
    return sorted(set(event_types))


async def create(
    session: AsyncSession, principal: Principal, data: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned only here)."""
    await addresses.resolve(data.url)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        url=data.url,
        description=data.description,
        format=data.format.value,
        event_types=_check_types(data.event_types),
        secret=secret,
        enabled=True,
        consecutive_failures=0,
        created_by_user_id=principal.user_id,
        teams_bot=_bot(data.teams_bot),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    found = await repository.endpoint(session, principal.organization_id, endpoint_id)
    if found is None:
        raise NotFound("No such webhook.")
    return found


async def list_endpoints(session: AsyncSession, principal: Principal) -> list[WebhookEndpoint]:
    return await repository.endpoints(session, principal.organization_id)


async def update(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, data: WebhookUpdate
) -> WebhookEndpoint:
    endpoint = await get(session, principal, endpoint_id)
    if data.teams_bot is not None and endpoint.teams_bot is None:
        raise NotABotEndpoint("Only a teams_bot endpoint has a bot to change.")
    moved = False
    if data.url is not None:
        await addresses.resolve(data.url)
        moved = data.url != endpoint.url
        endpoint.url = data.url
    if data.teams_bot is not None:
        assert endpoint.teams_bot is not None
        moved = moved or data.teams_bot.conversation_id != endpoint.teams_bot.conversation_id
        endpoint.teams_bot = _bot(data.teams_bot)
    if moved and endpoint.teams_bot is not None:
        await repository.forget_cards(session, endpoint.id)
    if data.event_types is not None:
        endpoint.event_types = _check_types(data.event_types)
    if data.description is not None:
        endpoint.description = data.description
    if data.enabled is not None:
        endpoint.enabled = data.enabled
        if data.enabled:
            endpoint.disabled_reason = None
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


def _bot(data: TeamsBotSet | None) -> TeamsBot | None:
    return None if data is None else TeamsBot(**data.model_dump())


async def delete(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID) -> None:
    await session.delete(await get(session, principal, endpoint_id))
    await session.flush()


async def list_deliveries(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, limit: int
) -> list[WebhookDelivery]:
    await get(session, principal, endpoint_id)
    return await repository.deliveries(session, principal.organization_id, endpoint_id, limit)


async def redeliver(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again now (same ``webhook-id``); its attempt log is kept."""
    delivery = await repository.delivery(
        session, principal.organization_id, endpoint_id, delivery_id
    )
    if delivery is None:
        raise NotFound("No such delivery.")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    delivery.created_at = utcnow()  # a new retry window
    await session.flush()
    return delivery


async def record(session: AsyncSession, message: dict[str, Any]) -> list[uuid.UUID]:
    """One pending delivery per subscribed endpoint for an outbox event; returns new ids."""
    topic = message["topic"]
    if topic not in EVENTS:
        return []
    payload: dict[str, Any] = message["payload"]
    organization_id = message.get("organization_id")
    ticket: Ticket | None = None
    if organization_id is None:
        ticket = await _ticket(session, payload)
        organization_id = str(ticket.organization_id) if ticket else None
    if organization_id is None:
        return []
    created = []
    standard = {"type": topic, "timestamp": message["occurred_at"], "data": payload}
    for endpoint in await repository.subscribed(session, uuid.UUID(organization_id), topic):
        body: dict[str, Any] | None = standard
        if endpoint.format in _TEAMS:
            ticket = ticket or await _ticket(session, payload)
            if ticket is None or ticket.organization_id != endpoint.organization_id:
                continue  # not about a ticket: nothing to show in a channel
            body = await teams_cards.card_now(session, endpoint, ticket, message)
        delivery_id = None if body is None else await _offer(session, endpoint, message, body)
        if delivery_id is not None:
            created.append(delivery_id)
    return created


async def record_for_rule(session: AsyncSession, message: dict[str, Any]) -> list[uuid.UUID]:
    """The delivery a rule's ``notify`` action asked for, to its one endpoint (none when the
    endpoint is gone or disabled, or the ticket is gone)."""
    payload: dict[str, Any] = message["payload"]
    if "webhook_id" not in payload:
        return []  # a Slack notification
    organization_id = uuid.UUID(message["organization_id"])
    endpoint = await repository.endpoint(session, organization_id, uuid.UUID(payload["webhook_id"]))
    if endpoint is None or not endpoint.enabled:
        return []
    data = {key: value for key, value in payload.items() if key != "webhook_id"}
    body: dict[str, Any] | None = {
        "type": message["topic"],
        "timestamp": message["occurred_at"],
        "data": data,
    }
    if endpoint.format in _TEAMS:
        ticket = await _ticket(session, payload)
        if ticket is None or ticket.organization_id != organization_id:
            return []
        body = await teams_cards.card_now(session, endpoint, ticket, message)
    if body is None:
        return []
    delivery_id = await _offer(session, endpoint, message, body)
    return [] if delivery_id is None else [delivery_id]


async def record_held_card(session: AsyncSession, message: dict[str, Any]) -> list[uuid.UUID]:
    """The card of the changes held for a Teams endpoint, as one delivery (``teams.card_due``)."""
    held = await teams_cards.held_card(session, message)
    if held is None:
        return []
    endpoint, event_type, card = held
    delivery_id = await _offer(session, endpoint, message, card, event_type=event_type)
    return [] if delivery_id is None else [delivery_id]


async def _offer(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    message: dict[str, Any],
    body: dict[str, Any],
    *,
    event_type: str | None = None,
) -> uuid.UUID | None:
    """A pending delivery of ``body`` for the event to the endpoint, due now; None when the
    event was already recorded for it (a redelivered event)."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        organization_id=endpoint.organization_id,
        endpoint_id=endpoint.id,
        event_id=uuid.UUID(message["id"]),
        event_type=event_type or message["topic"],
        payload=body,
        status=DeliveryStatus.PENDING.value,
        next_attempt_at=now,
        created_at=now,
    )
    return delivery.id if await repository.add_delivery(session, delivery) else None


async def _ticket(session: AsyncSession, payload: dict[str, Any]) -> Ticket | None:
    ticket_id = payload.get("ticket_id")
    return await repository.ticket(session, uuid.UUID(ticket_id)) if ticket_id else None


def backoff(attempt: int) -> float:
    """Seconds before the next attempt after ``attempt`` failed ones (doubling, jittered)."""
    cfg = get_settings().webhooks
    delay = min(cfg.retry_base_s * 2 ** (attempt - 1), cfg.retry_max_delay_s)
    return float(delay * _random.uniform(0.8, 1.2))


async def attempt(session: AsyncSession, delivery_id: uuid.UUID) -> None:
    """Make one attempt of a due delivery and record it; schedules the next one on failure."""
    delivery = await repository.lock_delivery(session, delivery_id)
    now = utcnow()
    if (
        delivery is None
        or delivery.status != DeliveryStatus.PENDING.value
        or (delivery.next_attempt_at is not None and delivery.next_attempt_at > now)
    ):
        return
    endpoint = await repository.endpoint_unscoped(session, delivery.endpoint_id)
    if not endpoint.enabled:
        _finish(delivery, DeliveryStatus.FAILED, {"at": now.isoformat(), "error": "disabled"})
        return
    if endpoint.format == EndpointFormat.TEAMS_BOT.value:
        outcome = {
            "at": now.isoformat(),
            **await teams_bot.deliver(session, endpoint, delivery.payload),
        }
    else:
        outcome = await _post(endpoint, delivery)
    ok = "skipped" in outcome or (
        200 <= int(outcome.get("status_code") or 0) < 300 and "error" not in outcome
    )
    if ok:
        _finish(delivery, DeliveryStatus.SUCCEEDED, outcome)
        delivery.delivered_at = utcnow()
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        return
    cfg = get_settings().webhooks
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.consecutive_failures >= cfg.disable_after_failures and (
        now - endpoint.failing_since >= timedelta(seconds=cfg.disable_after_s)
    ):
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Disabled after {endpoint.consecutive_failures} failed attempts in a row."
        )
        _finish(delivery, DeliveryStatus.FAILED, outcome)
        return
    next_at = now + timedelta(seconds=backoff(len(delivery.attempts) + 1))
    if next_at > delivery.created_at + timedelta(seconds=cfg.retry_window_s):
        _finish(delivery, DeliveryStatus.FAILED, outcome)
        return
    delivery.attempts = [*delivery.attempts, outcome]
    delivery.next_attempt_at = next_at


def _finish(delivery: WebhookDelivery, status: DeliveryStatus, outcome: dict[str, Any]) -> None:
    delivery.attempts = [*delivery.attempts, outcome]
    delivery.status = status.value
    delivery.next_attempt_at = None


async def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> dict[str, Any]:
    cfg = get_settings().webhooks
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    message_id = f"msg_{delivery.id.hex}"
    started = time.monotonic()
    outcome: dict[str, Any] = {"at": utcnow().isoformat()}
    try:
        target = await addresses.resolve(endpoint.url)
        async with httpx.AsyncClient(timeout=cfg.timeout_s, follow_redirects=False) as http:
            response = await http.post(
                target.url,
                content=body,
                headers={
                    **signing.headers(endpoint.secret, message_id, int(time.time()), body),
                    "Content-Type": "application/json",
                    "Host": target.host_header,
                    "User-Agent": USER_AGENT,
                },
                extensions={"sni_hostname": target.host},
            )
        outcome["status_code"] = response.status_code
        outcome["response"] = response.text[: cfg.response_log_bytes]
    except UnsafeUrl as exc:
        outcome["error"] = exc.detail
    except httpx.HTTPError as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}"[:500]
    outcome["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return outcome


async def due(session: AsyncSession, limit: int = 500) -> list[uuid.UUID]:
    return await repository.due(session, utcnow(), limit)
